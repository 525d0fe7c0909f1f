//! Builds images: a manifest and its build context in, a content-addressed
//! OCI image in the store out.
//!
//! The build reads the base image, turns every `[[copy]]` into one layer
//! (plus one that creates `workdir` when nothing else does), writes the
//! config and manifest, and only then, under the store lock, moves the
//! blobs into place, unpacks the new file tree and sets the tags. The same
//! context gives the same image ID on every machine: layers are
//! deterministic and the config carries no build time unless
//! `SOURCE_DATE_EPOCH` asks for one.

pub mod base;
pub mod bytecode;
mod context;
pub(crate) mod pip;
pub mod provided;
pub mod python;
pub mod snapshot;
mod step;
mod tree_labels;

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use cap_std::fs::Dir;
use oci_spec::image::{
    Arch, Descriptor, Digest, History, HistoryBuilder, ImageConfiguration, ImageManifest,
    ImageManifestBuilder, MediaType, Os,
};

pub use context::{BuildContext, clean_relative};
pub use snapshot::Snapshot;
pub use step::{BuildRuntime, Step, StepOutcome};

use crate::guest_path;
use crate::image::{self, Image, LIMITS_LABEL, RunConfig};
use crate::launch::LAUNCH_LABEL;
use crate::layer::{DEFAULT_MTIME, LayerContents, LayerEntry, WrittenLayer};
use crate::manifest::{Base, CopyInstruction, Limits, Manifest, ManifestError};
use crate::reference::ImageRef;
use crate::store::{LookupError, Store};

/// The manifest file a context holds unless `-f` names another.
pub const MANIFEST_FILE: &str = "wharf.toml";

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The manifest; `CONTEXT/wharf.toml` when `None`.
    pub manifest: Option<PathBuf>,
    /// Tags to give the image.
    pub tags: Vec<ImageRef>,
    /// Seconds since the epoch to stamp on files and the config, for
    /// reproducible builds that still carry a date (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: Option<u64>,
    /// Runs every step afresh, as `docker build --no-cache` does: pip
    /// installs the requirements again (an unpinned one to its newest
    /// version) and snapshots are taken again; what they give replaces
    /// what the cache held.
    pub no_cache: bool,
}

/// A finished build.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// The image ID (manifest digest).
    pub id: Digest,
    /// The tags set, as `repository:tag`.
    pub tags: Vec<String>,
    /// The image, as stored.
    pub image: Image,
}

/// Says how a build goes, a line at a time: `[step/steps] what`, and what
/// a step's program wrote.
struct Steps<'a> {
    progress: &'a mut dyn FnMut(&str),
    step: usize,
    steps: usize,
}

impl Steps<'_> {
    /// Starts the next step.
    fn say(&mut self, text: String) {
        self.step += 1;
        (self.progress)(&format!("[{}/{}] {text}", self.step, self.steps));
    }

    /// A line the current step's program wrote.
    fn echo(&mut self, line: &str) {
        (self.progress)(line);
    }
}

/// Builds an image and stores it; `progress` hears a line per step.
///
/// Without a runtime, a manifest with `[snapshot]` is an error, and Python
/// sources are left without bytecode (their image still runs, compiling
/// what it imports on every start): [`build_with_runtime`] does both.
pub fn build(
    store: &Store,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BuildOutput> {
    build_with_runtime(store, options, progress, None)
}

/// [`build`], with the runtime that runs the steps that need a guest:
/// `[snapshot]`s, and compiling Python sources to bytecode (see
/// [`bytecode`]).
pub fn build_with_runtime(
    store: &Store,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
    runtime: Option<&dyn BuildRuntime>,
) -> Result<BuildOutput> {
    let manifest_path = options
        .manifest
        .clone()
        .unwrap_or_else(|| options.context.join(MANIFEST_FILE));
    if options.manifest.is_none()
        && !manifest_path.exists()
        && let Some(dockerfile) = crate::manifest::dockerfile_in(&options.context)
    {
        anyhow::bail!(
            "{} has a {} and no {MANIFEST_FILE}: {}",
            options.context.display(),
            dockerfile.file_name().unwrap_or_default().to_string_lossy(),
            crate::manifest::READS_WHARF_TOML
        );
    }
    let manifest = Manifest::load(&manifest_path)?;
    let context = BuildContext::open(&options.context)?;
    let base = match &manifest.base {
        Base::Scratch => None,
        Base::Image(reference) => match base::resolve(store, reference) {
            Ok(image) => Some(image),
            Err(e) if matches!(e.downcast_ref(), Some(LookupError::NotFound(_))) => {
                return Err(missing_base(store, &manifest, reference).into());
            }
            Err(e) => return Err(e),
        },
    };
    // The base's interpreter compiles the build's Python sources.
    let interpreter = match runtime {
        Some(runtime) if bytecode::applies(base.as_ref()) => base.as_ref().map(|b| (runtime, b)),
        _ => None,
    };
    let steps = 1
        + usize::from(manifest.python_requirements.is_some())
        + manifest.copies.len()
        + usize::from(interpreter.is_some() && !manifest.copies.is_empty())
        + usize::from(manifest.snapshot.is_some())
        + 1;
    let mut steps = Steps {
        progress,
        step: 0,
        steps,
    };
    match (&manifest.base, &base) {
        (Base::Image(reference), Some(image)) => steps.say(format!(
            "FROM {reference} ({})",
            crate::digest::short(&image.id)
        )),
        _ => steps.say("FROM scratch".into()),
    }
    let base_config = base
        .as_ref()
        .map(|b| b.run_config())
        .unwrap_or_else(|| RunConfig::from_oci(None));
    let base_tree = match &base {
        Some(image) => {
            let rootfs = store.open_rootfs(image)?;
            Some((
                Dir::open_ambient_dir(rootfs.tree(), cap_std::ambient_authority())?,
                rootfs,
            ))
        }
        None => None,
    };

    let workdir = match &manifest.workdir {
        Some(w) => guest_path::resolve(&base_config.workdir, w),
        None => base_config.workdir.clone(),
    };

    let mtime = options.source_date_epoch.unwrap_or(DEFAULT_MTIME);
    let mut layers: Vec<(LayerContents, String)> = Vec::new();
    // Dependencies first, as a Dockerfile installs them before the app.
    let python = python::install(
        store,
        &manifest,
        &context,
        base.as_ref(),
        interpreter.map(|(runtime, _)| runtime),
        options.no_cache,
    )?;
    if let Some(installed) = &python {
        steps.say(format!(
            "{}{}",
            installed.description,
            if installed.cached { " (cached)" } else { "" }
        ));
    }
    // The layer of the dependencies, first of `layers` when there is one.
    let dependencies = match python.as_ref().filter(|i| !i.layer.is_empty()) {
        Some(installed) => {
            layers.push((installed.layer.clone(), installed.description.clone()));
            1
        }
        None => 0,
    };
    for copy in &manifest.copies {
        let layer = copy_layer(
            &manifest,
            &context,
            copy,
            &workdir,
            &ImageSoFar {
                base: base_tree.as_ref().map(|(dir, _)| dir),
                layers: &layers,
            },
        )?;
        let sources: Vec<&str> = copy.sources.iter().map(|s| s.get_ref().as_str()).collect();
        let description = format!("COPY {} {}", sources.join(" "), copy.dest.get_ref());
        steps.say(description.clone());
        if !layer.is_empty() {
            layers.push((layer, description));
        }
    }
    if let Some((runtime, base)) = interpreter
        && !manifest.copies.is_empty()
    {
        let mut copied: Vec<&mut LayerContents> = layers
            .iter_mut()
            .skip(dependencies)
            .map(|(layer, _)| layer)
            .collect();
        match bytecode::compile_layers(runtime, base, &mut copied) {
            Ok(compiled) => {
                steps.say(format!(
                    "COMPILE bytecode: {} ({})",
                    match compiled.modules {
                        0 => "no Python modules".to_owned(),
                        1 => "1 Python module".to_owned(),
                        n => format!("{n} Python modules"),
                    },
                    compiled_by(&manifest)
                ));
                for failure in &compiled.failed {
                    steps.echo(&format!("  not compiled: {failure}"));
                }
            }
            // Bytecode only saves time: the image runs without it.
            Err(e) => {
                steps.say(format!(
                    "COMPILE bytecode ({}): failed",
                    compiled_by(&manifest)
                ));
                steps.echo(&format!(
                    "  warning: {e:#}; the image runs, compiling what it imports at every start"
                ));
            }
        }
    }
    let so_far = ImageSoFar {
        base: base_tree.as_ref().map(|(dir, _)| dir),
        layers: &layers,
    };
    if workdir != "/" && !so_far.is_dir(guest_path::relative(&workdir)) {
        let mut layer = LayerContents::new();
        layer.add_dir(guest_path::relative(&workdir));
        layers.push((layer, format!("WORKDIR {workdir}")));
    }
    // A snapshot is taken over the dependencies (the base and the
    // requirements) when the base says its preload allows it and the
    // preload imports nothing of the app's own files: then an edit of the
    // app does not take it again.
    let site_packages = base_config
        .labels
        .get(python::SITE_PACKAGES_LABEL)
        .map(|path| guest_path::relative(&guest_path::resolve("/", path)).to_owned());
    let over_app = manifest.snapshot.as_ref().and_then(|preload| {
        if base_config
            .labels
            .get(snapshot::APP_FILES_LABEL)
            .map(String::as_str)
            != Some(snapshot::APP_FILES_AFTER)
        {
            return Some(String::new());
        }
        snapshot_needs_app(
            preload.get_ref(),
            &layers[dependencies..],
            site_packages.as_deref(),
        )
    });
    let dependencies_workdir = manifest.snapshot.is_some()
        && over_app.is_none()
        && workdir != "/"
        && !ImageSoFar {
            base: base_tree.as_ref().map(|(dir, _)| dir),
            layers: &layers[..dependencies],
        }
        .is_dir(guest_path::relative(&workdir));
    drop(base_tree);

    // Write the layers into the staging area; nothing is visible yet.
    let write = |layer: &LayerContents, description: &str| -> Result<Written> {
        let temp = store.temp_file()?;
        let (out, result) = layer
            .write(BufWriter::new(temp.as_file()), mtime)
            .with_context(|| format!("cannot write the layer for {description}"))?;
        out.into_inner().map_err(|e| e.into_error())?.flush()?;
        Ok(Written {
            temp: Some(temp),
            layer: result,
            description: description.to_owned(),
        })
    };
    let mut written: Vec<Written> = Vec::new();
    for (layer, description) in &layers {
        written.push(write(layer, description)?);
    }
    let describe = |written: &[&Written]| {
        let config = image_config(
            &manifest,
            &base,
            &base_config,
            &workdir,
            written,
            options.source_date_epoch,
        )?;
        let oci_manifest = image_manifest(&base, &config, written)?;
        anyhow::Ok((config, oci_manifest))
    };
    let (config, oci_manifest) = describe(&written.iter().collect::<Vec<_>>())?;

    let Some(preload) = &manifest.snapshot else {
        drop(python);
        steps.say("writing image".into());
        let layers = written.into_iter().filter_map(Written::staged).collect();
        return commit(
            store,
            Staged {
                config,
                manifest: oci_manifest,
                layers,
            },
            &options.tags,
            None,
            (mtime, created(options)),
        );
    };
    let runtime = runtime.context(
        "`[snapshot]` needs wharf's runtime, which this build of the wharf library leaves out",
    )?;
    // The image the snapshot is taken over: the whole image, or its
    // dependencies with the working directory the preload starts in.
    let extra = if dependencies_workdir {
        let mut layer = LayerContents::new();
        layer.add_dir(guest_path::relative(&workdir));
        Some(write(&layer, &format!("WORKDIR {workdir}"))?)
    } else {
        None
    };
    drop(python);
    let (under_count, under) = match &over_app {
        Some(_) => (
            written.len(),
            describe(&written.iter().collect::<Vec<_>>())?,
        ),
        None => {
            let mut parts: Vec<&Written> = written[..dependencies].iter().collect();
            parts.extend(extra.as_ref());
            (dependencies, describe(&parts)?)
        }
    };
    let under_bytes = image::canonical_json(&under.1)?;
    let under_image = Image {
        id: crate::digest::sha256(&under_bytes),
        manifest_size: under_bytes.len() as u64,
        manifest: under.1,
        config: under.0,
    };
    let cached = match options.no_cache {
        true => None,
        false => snapshot::cached(store, &under_image, preload.get_ref())?,
    };
    steps.say(format!(
        "SNAPSHOT preload {}{}",
        preload.get_ref().join(", "),
        if cached.is_some() { " (cached)" } else { "" }
    ));
    if let Some(why) = over_app.as_ref().filter(|why| !why.is_empty()) {
        steps.echo(&format!(
            "  {why}: the snapshot is taken over the app's files, and again whenever they change"
        ));
    }
    let mut pin = None;
    let snapshot = match cached {
        Some(layer) => layer,
        None => {
            // Stored, unpacked and pinned (never tagged) so that the
            // program can run in it.
            let mut layers: Vec<(tempfile::NamedTempFile, WrittenLayer)> = written[..under_count]
                .iter_mut()
                .filter_map(Written::take)
                .collect();
            layers.extend(extra.and_then(Written::staged));
            let (stored, stored_pin) = commit_pinned(
                store,
                Staged {
                    config: under_image.config.clone(),
                    manifest: under_image.manifest.clone(),
                    layers,
                },
            )?;
            pin = Some(stored_pin);
            match snapshot::take(store, &stored, preload.get_ref(), runtime, mtime) {
                Ok((layer, output)) => {
                    // What the program wrote while it preloaded, as Docker
                    // shows what a RUN step writes.
                    for line in output.lines() {
                        steps.echo(line);
                    }
                    layer
                }
                Err(e) => {
                    // Nothing of a failed build stays: the image the
                    // snapshot was to be taken over goes with the next
                    // collection, now.
                    drop(pin);
                    if let Ok(writer) = store.write() {
                        let _ = writer.collect_garbage();
                    }
                    return Err(manifest
                        .error_at(preload.span(), format!("cannot take the snapshot: {e:#}"))
                        .into());
                }
            }
        }
    };
    let (config, oci_manifest) = snapshot::derive(
        &config,
        &oci_manifest,
        &snapshot.layer,
        &snapshot.record,
        created(options),
    )?;
    steps.say("writing image".into());
    let mut layers: Vec<(tempfile::NamedTempFile, WrittenLayer)> =
        written.into_iter().filter_map(Written::staged).collect();
    layers.extend(snapshot.staged.map(|temp| (temp, snapshot.layer.clone())));
    commit(
        store,
        Staged {
            config,
            manifest: oci_manifest,
            layers,
        },
        &options.tags,
        pin,
        (mtime, created(options)),
    )
}

/// The build's date for configs and history entries (RFC 3339), when
/// `SOURCE_DATE_EPOCH` gives one.
fn created(options: &BuildOptions) -> Option<String> {
    options.source_date_epoch.map(|secs| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    })
}

/// Puts `layer` on top of an image: its diff ID and a history entry
/// (`created_by`, dated `created`) in `config`, its descriptor in
/// `manifest`, whose config descriptor then names the new config.
///
/// # Errors
///
/// When the config cannot be serialized.
fn append_layer(
    config: &mut ImageConfiguration,
    manifest: &mut ImageManifest,
    layer: &WrittenLayer,
    created_by: String,
    created: Option<String>,
) -> Result<()> {
    let mut diff_ids = config.rootfs().diff_ids().clone();
    diff_ids.push(layer.diff_id.to_string());
    config.rootfs_mut().set_diff_ids(diff_ids);
    let mut history = config.history().clone().unwrap_or_default();
    let mut entry = HistoryBuilder::default()
        .created_by(created_by)
        .comment("wharf build");
    if let Some(created) = created {
        entry = entry.created(created);
    }
    history.push(entry.build()?);
    config.set_history(Some(history));

    let config_bytes = image::canonical_json(config)?;
    manifest.set_config(image::descriptor(
        MediaType::ImageConfig,
        crate::digest::sha256(&config_bytes),
        config_bytes.len() as u64,
    ));
    let mut layers = manifest.layers().to_vec();
    layers.push(image::descriptor(
        MediaType::ImageLayerGzip,
        layer.digest.clone(),
        layer.size,
    ));
    manifest.set_layers(layers);
    Ok(())
}

/// A layer written to the store's staging area, until the blob is moved
/// into the store.
struct Written {
    temp: Option<tempfile::NamedTempFile>,
    layer: WrittenLayer,
    description: String,
}

impl Written {
    /// The staged file and the layer, if not moved into the store yet.
    fn staged(self) -> Option<(tempfile::NamedTempFile, WrittenLayer)> {
        let layer = self.layer;
        self.temp.map(|temp| (temp, layer))
    }

    /// [`Written::staged`], leaving the layer described but moved.
    fn take(&mut self) -> Option<(tempfile::NamedTempFile, WrittenLayer)> {
        self.temp.take().map(|temp| (temp, self.layer.clone()))
    }
}

/// Why a snapshot must be taken over the app's own files (`app`, the
/// layers of its `[[copy]]`s): the preload imports a module whose
/// top-level package or module they hold (a file `NAME.py` or a directory
/// `NAME` anywhere in them), or they add to the base's site-packages, whose
/// listing the interpreter keeps. `None` when the preload can run over the
/// image's dependencies alone.
fn snapshot_needs_app(
    preload: &[String],
    app: &[(LayerContents, String)],
    site_packages: Option<&str>,
) -> Option<String> {
    if let Some(site_packages) = site_packages {
        let inside = format!("{site_packages}/");
        if app
            .iter()
            .any(|(layer, _)| layer.paths().any(|path| path.starts_with(&inside)))
        {
            return Some(format!("the app's files go into /{site_packages}"));
        }
    }
    let found: Vec<String> = preload
        .iter()
        .filter(|name| {
            let top = name.split('.').next().unwrap_or(name);
            let file = format!("{top}.py");
            app.iter().any(|(layer, _)| {
                layer.paths().any(|path| {
                    let last = path.rsplit('/').next().unwrap_or(path);
                    last == top || last == file
                })
            })
        })
        .cloned()
        .collect();
    (!found.is_empty()).then(|| format!("the preload imports the app's own {}", found.join(", ")))
}

/// The OCI manifest of an image: the base's layers and `written`, and
/// `config`.
fn image_manifest(
    base: &Option<Image>,
    config: &ImageConfiguration,
    written: &[&Written],
) -> Result<ImageManifest> {
    // The base's labels layer is left out: this image writes its own.
    let mut layer_descriptors: Vec<Descriptor> = match base {
        Some(b) => b.base_layers().to_vec(),
        None => Vec::new(),
    };
    layer_descriptors.extend(written.iter().map(|w| {
        image::descriptor(
            MediaType::ImageLayerGzip,
            w.layer.digest.clone(),
            w.layer.size,
        )
    }));
    let config_bytes = image::canonical_json(config)?;
    Ok(ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(image::descriptor(
            MediaType::ImageConfig,
            crate::digest::sha256(&config_bytes),
            config_bytes.len() as u64,
        ))
        .layers(layer_descriptors)
        .build()?)
}

/// Whose interpreter compiled a build's bytecode, as the build says it.
fn compiled_by(manifest: &Manifest) -> String {
    match &manifest.base {
        Base::Image(reference) => format!("{reference}'s python"),
        Base::Scratch => "the base's python".to_owned(),
    }
}

/// An image ready to be stored: its config, its manifest, and the layer
/// files (in the store's staging area) that are new with it.
struct Staged {
    config: ImageConfiguration,
    manifest: ImageManifest,
    layers: Vec<(tempfile::NamedTempFile, WrittenLayer)>,
}

impl Staged {
    /// Moves the blobs into the store; returns the image.
    fn store(self, writer: &crate::store::StoreWriter<'_>) -> Result<Image> {
        for (temp, layer) in self.layers {
            writer.put_blob_file(temp, &layer.digest)?;
        }
        writer.put_blob(&image::canonical_json(&self.config)?)?;
        let manifest_bytes = image::canonical_json(&self.manifest)?;
        let id = writer.put_blob(&manifest_bytes)?;
        let image = Image {
            id,
            manifest_size: manifest_bytes.len() as u64,
            manifest: self.manifest,
            config: self.config,
        };
        writer.ensure_complete(&image)?;
        writer.unpack(&image)?;
        Ok(image)
    }
}

/// Stores an image that is only a step of the build: pinned, untagged.
fn commit_pinned(store: &Store, staged: Staged) -> Result<(Image, crate::store::Pin)> {
    let writer = store.write()?;
    let image = staged.store(&writer)?;
    let pin = writer.pin(&image.id)?;
    Ok((image, pin))
}

/// Stores the finished image with its labels layer on top (see
/// [`tree_labels`], stamped with `stamp`: mtime and creation date), tags
/// it (or keeps it untagged), releases `pin` and collects what no image
/// needs any more.
fn commit(
    store: &Store,
    staged: Staged,
    tags: &[ImageRef],
    pin: Option<crate::store::Pin>,
    stamp: (u64, Option<String>),
) -> Result<BuildOutput> {
    let staged = tree_labels::append(store, staged, stamp.0, stamp.1)?;
    let writer = store.write()?;
    let image = staged.store(&writer)?;
    let id = image.id.clone();
    let descriptor = image::descriptor(MediaType::ImageManifest, id.clone(), image.manifest_size);
    let mut names = Vec::new();
    if tags.is_empty() {
        writer.keep_untagged(&descriptor)?;
    }
    for tag in tags {
        let name = tag
            .tagged_name()
            .with_context(|| format!("cannot tag with a digest reference: {tag}"))?;
        writer.tag(&name, &descriptor)?;
        names.push(name);
    }
    drop(pin);
    writer.collect_garbage()?;
    snapshot::forget_collected(store);
    Ok(BuildOutput {
        id,
        tags: names,
        image,
    })
}

/// The file tree of the image being built, for questions COPY asks about it.
struct ImageSoFar<'a> {
    base: Option<&'a Dir>,
    layers: &'a [(LayerContents, String)],
}

impl ImageSoFar<'_> {
    /// Whether `path` (relative to `/`) is a directory in the image so far.
    fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        for (layer, _) in self.layers.iter().rev() {
            match layer.get(path) {
                Some(LayerEntry::Dir) => return true,
                Some(_) => return false,
                None => {}
            }
        }
        self.base
            .and_then(|dir| dir.metadata(path).ok())
            .is_some_and(|meta| meta.is_dir())
    }
}

/// Turns one `[[copy]]` into a layer, following Docker's COPY rules: a
/// directory source copies its contents; the destination is a directory
/// when it ends in `/` or `.`, names an existing directory, or there are
/// several sources.
fn copy_layer(
    manifest: &Manifest,
    context: &BuildContext,
    copy: &CopyInstruction,
    workdir: &str,
    so_far: &ImageSoFar<'_>,
) -> Result<LayerContents> {
    let mut sources = Vec::new();
    for source in &copy.sources {
        let resolved = context
            .resolve(source.get_ref())
            .map_err(|e| manifest.error_at(source.span(), e.0))?;
        sources.extend(resolved);
    }
    let dest_text = copy.dest.get_ref();
    let dest = guest_path::resolve(workdir, dest_text);
    let dest_rel = guest_path::relative(&dest).to_owned();
    let into_directory = dest_text.ends_with('/')
        || dest_text == "."
        || dest_text.ends_with("/.")
        || sources.len() > 1
        || so_far.is_dir(&dest_rel);
    if sources.len() > 1 && !into_directory {
        return Err(manifest
            .error_at(
                copy.dest.span(),
                "with several sources, `dest` must be a directory ending in '/'",
            )
            .into());
    }
    let mut layer = LayerContents::new();
    for source in &sources {
        let target = match source.kind {
            context::SourceKind::Dir => dest_rel.clone(),
            context::SourceKind::File(_) if into_directory => {
                let name = &source.name;
                if dest_rel.is_empty() {
                    name.to_owned()
                } else {
                    format!("{dest_rel}/{name}")
                }
            }
            context::SourceKind::File(_) => {
                if dest_rel.is_empty() {
                    return Err(manifest
                        .error_at(
                            copy.dest.span(),
                            "cannot copy a file over the image root '/'",
                        )
                        .into());
                }
                dest_rel.clone()
            }
        };
        context.add_to_layer(source, &target, &mut layer)?;
    }
    Ok(layer)
}

/// The new image's configuration: the base's, with the manifest's changes.
fn image_config(
    manifest: &Manifest,
    base: &Option<Image>,
    base_config: &RunConfig,
    workdir: &str,
    layers: &[&Written],
    source_date_epoch: Option<u64>,
) -> Result<ImageConfiguration> {
    let mut config = base.as_ref().map(|b| b.config.clone()).unwrap_or_default();
    if base.as_ref().is_some_and(Image::ends_with_labels_layer) {
        // The base's labels layer: this image writes its own.
        let mut diff_ids = config.rootfs().diff_ids().clone();
        diff_ids.pop();
        config.rootfs_mut().set_diff_ids(diff_ids);
        let mut history = config.history().clone().unwrap_or_default();
        history.pop();
        config.set_history(Some(history));
    }
    config.set_architecture(Arch::Wasm);
    config.set_os(Os::from(image::OS));
    let created = source_date_epoch.map(|secs| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    });
    config.set_created(created.clone());

    let mut env = base_config.env.clone();
    for (key, value) in &manifest.env {
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => env.push((key.clone(), value.clone())),
        }
    }

    // Docker's rule: a new ENTRYPOINT drops the inherited CMD.
    let entrypoint = manifest
        .entrypoint
        .clone()
        .unwrap_or_else(|| base_config.entrypoint.clone());
    let cmd = match (&manifest.cmd, &manifest.entrypoint) {
        (Some(cmd), _) => cmd.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => base_config.cmd.clone(),
    };

    let mut labels: HashMap<String, String> = base_config.labels.clone().into_iter().collect();
    if let (Base::Image(reference), Some(base)) = (&manifest.base, base) {
        labels.extend(base::labels(reference, base));
    }
    labels.extend(manifest.labels.clone());
    let inherited = base_config.limits()?;
    let limits = Limits {
        memory: manifest.limits.memory.or(inherited.memory),
        timeout: manifest.limits.timeout.or(inherited.timeout),
        fuel: manifest.limits.fuel.or(inherited.fuel),
    };
    if limits != Limits::default() {
        labels.insert(LIMITS_LABEL.to_owned(), serde_json::to_string(&limits)?);
    }
    // A new `[launch]` replaces the base's, as a new ENTRYPOINT does.
    if let Some(launch) = &manifest.launch {
        labels.insert(LAUNCH_LABEL.to_owned(), serde_json::to_string(launch)?);
    }

    let mut exec = config.config().clone().unwrap_or_default();
    exec.set_env(Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()));
    exec.set_entrypoint((!entrypoint.is_empty()).then_some(entrypoint));
    exec.set_cmd((!cmd.is_empty()).then_some(cmd));
    exec.set_working_dir(Some(workdir.to_owned()));
    exec.set_labels((!labels.is_empty()).then_some(labels));
    config.set_config(Some(exec));

    let mut diff_ids = config.rootfs().diff_ids().clone();
    let mut history: Vec<History> = config.history().clone().unwrap_or_default();
    if let (Base::Image(reference), Some(base)) = (&manifest.base, base) {
        history.push(base::history_entry(reference, base, created.as_deref())?);
    }
    for written in layers {
        diff_ids.push(written.layer.diff_id.to_string());
        let mut entry = HistoryBuilder::default()
            .created_by(written.description.clone())
            .comment("wharf build");
        if let Some(created) = &created {
            entry = entry.created(created.clone());
        }
        history.push(entry.build()?);
    }
    config.rootfs_mut().set_diff_ids(diff_ids);
    config.set_history(Some(history));
    Ok(config)
}

/// The error for a `from` the store lacks, at its place in the manifest,
/// naming the images with a close name if there are any.
fn missing_base(store: &Store, manifest: &Manifest, reference: &ImageRef) -> ManifestError {
    let similar = store
        .similar_names(&reference.to_string())
        .unwrap_or_default();
    let what_to_do = if similar.is_empty() {
        "build or pull it first".to_owned()
    } else {
        format!("did you mean {}?", similar.join(" or "))
    };
    manifest.error_at(
        manifest.from_span(),
        format!(
            "base image {reference} is not in the local store ({}); {what_to_do}",
            store.root().display()
        ),
    )
}

/// The manifest path a build of `context` reads by default.
pub fn default_manifest(context: &Path) -> PathBuf {
    context.join(MANIFEST_FILE)
}
