//! `index.json`: the store's tags, one OCI descriptor each, named by the
//! `org.opencontainers.image.ref.name` annotation (`repository:tag`).

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use oci_spec::image::{
    ANNOTATION_CREATED, ANNOTATION_REF_NAME, Descriptor, Digest, ImageIndex, ImageIndexBuilder,
    MediaType,
};

use super::Store;

pub(super) const INDEX_FILE: &str = "index.json";

/// One entry of the index: a tag and the image it names, or an image kept
/// without a tag (built without `-t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEntry {
    /// `repository:tag`; `None` for an untagged image.
    pub name: Option<String>,
    /// The image ID (manifest digest).
    pub id: Digest,
    /// When the image was first stored under any tag.
    pub created: Option<SystemTime>,
}

impl ImageEntry {
    /// The repository part of the name (`<none>` when untagged).
    pub fn repository(&self) -> &str {
        self.split().0
    }

    /// The tag part of the name (`<none>` when untagged).
    pub fn tag(&self) -> &str {
        self.split().1
    }

    fn split(&self) -> (&str, &str) {
        let Some(name) = &self.name else {
            return ("<none>", "<none>");
        };
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
            None => (name, "<none>"),
        }
    }
}

pub(super) fn empty() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("an empty index has every required field")
}

pub(super) fn read(store: &Store) -> Result<ImageIndex> {
    let path = store.root().join(INDEX_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid OCI image index", path.display()))
}

pub(super) fn write(store: &Store, index: &ImageIndex) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(index)?;
    store.write_atomically(Path::new(INDEX_FILE), &bytes)
}

pub(super) fn tagged_images(index: &ImageIndex) -> Vec<ImageEntry> {
    index
        .manifests()
        .iter()
        .map(|d| {
            let annotations = d.annotations().clone().unwrap_or_default();
            ImageEntry {
                name: annotations.get(ANNOTATION_REF_NAME).cloned(),
                id: d.digest().clone(),
                created: annotations
                    .get(ANNOTATION_CREATED)
                    .and_then(|t| humantime::parse_rfc3339(t).ok()),
            }
        })
        .collect()
}

/// Points `name` at `manifest`, keeping the first-stored time of an image
/// that is already known. An untagged entry of the same image is dropped:
/// the tag now keeps it.
pub(super) fn set_tag(index: &mut ImageIndex, name: &str, manifest: &Descriptor, now: SystemTime) {
    let known_since = known_since(index, manifest.digest()).unwrap_or(now);
    remove_tag(index, name);
    let mut entries = index.manifests().clone();
    entries.retain(|d| !(d.digest() == manifest.digest() && ref_name(d).is_none()));
    index.set_manifests(entries);
    push(index, manifest, Some(name), known_since);
}

/// Keeps `manifest` in the store without a tag, unless it has one already.
pub(super) fn keep_untagged(index: &mut ImageIndex, manifest: &Descriptor, now: SystemTime) {
    if index
        .manifests()
        .iter()
        .any(|d| d.digest() == manifest.digest())
    {
        return;
    }
    push(index, manifest, None, now);
}

/// Removes every entry of image `id`, tagged or not; returns the names.
pub(super) fn remove_image(index: &mut ImageIndex, id: &Digest) -> Vec<String> {
    let names = index
        .manifests()
        .iter()
        .filter(|d| d.digest() == id)
        .filter_map(ref_name)
        .collect();
    let mut entries = index.manifests().clone();
    entries.retain(|d| d.digest() != id);
    index.set_manifests(entries);
    names
}

fn known_since(index: &ImageIndex, id: &Digest) -> Option<SystemTime> {
    tagged_images(index)
        .into_iter()
        .find(|t| &t.id == id)
        .and_then(|t| t.created)
}

fn push(index: &mut ImageIndex, manifest: &Descriptor, name: Option<&str>, created: SystemTime) {
    let mut annotations = HashMap::from([(
        ANNOTATION_CREATED.to_owned(),
        humantime::format_rfc3339_seconds(created).to_string(),
    )]);
    if let Some(name) = name {
        annotations.insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
    }
    let mut descriptor = manifest.clone();
    descriptor.set_annotations(Some(annotations));
    let mut entries = index.manifests().clone();
    entries.push(descriptor);
    entries.sort_by(|a, b| {
        ref_name(a)
            .cmp(&ref_name(b))
            .then_with(|| a.digest().to_string().cmp(&b.digest().to_string()))
    });
    index.set_manifests(entries);
}

pub(super) fn remove_tag(index: &mut ImageIndex, name: &str) -> Option<Digest> {
    let position = index
        .manifests()
        .iter()
        .position(|d| ref_name(d).as_deref() == Some(name))?;
    let mut entries = index.manifests().clone();
    let removed = entries.remove(position);
    index.set_manifests(entries);
    Some(removed.digest().clone())
}

fn ref_name(descriptor: &Descriptor) -> Option<String> {
    descriptor
        .annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;

    fn manifest(content: &[u8]) -> Descriptor {
        Descriptor::new(
            MediaType::ImageManifest,
            content.len() as u64,
            digest::sha256(content),
        )
    }

    #[test]
    fn tags_are_set_moved_and_removed() {
        let mut index = empty();
        let (a, b) = (manifest(b"a"), manifest(b"b"));
        set_tag(&mut index, "app:latest", &a, SystemTime::UNIX_EPOCH);
        set_tag(&mut index, "app:1", &a, SystemTime::now());
        let tags = tagged_images(&index);
        assert_eq!(tags.len(), 2);
        // A second tag of a known image keeps its first-stored time.
        assert!(
            tags.iter()
                .all(|t| t.created == Some(SystemTime::UNIX_EPOCH))
        );

        set_tag(&mut index, "app:latest", &b, SystemTime::now());
        let tags = tagged_images(&index);
        assert_eq!(tags.len(), 2);
        assert_eq!(
            tags.iter()
                .find(|t| t.name.as_deref() == Some("app:latest"))
                .unwrap()
                .id,
            *b.digest()
        );

        assert_eq!(remove_tag(&mut index, "app:1"), Some(a.digest().clone()));
        assert_eq!(remove_tag(&mut index, "app:1"), None);
    }

    #[test]
    fn untagged_images_are_kept_until_tagged_or_removed() {
        let mut index = empty();
        let a = manifest(b"a");
        keep_untagged(&mut index, &a, SystemTime::UNIX_EPOCH);
        keep_untagged(&mut index, &a, SystemTime::now());
        assert_eq!(tagged_images(&index).len(), 1);
        assert_eq!(tagged_images(&index)[0].tag(), "<none>");

        set_tag(&mut index, "app:latest", &a, SystemTime::now());
        let entries = tagged_images(&index);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].created, Some(SystemTime::UNIX_EPOCH));

        assert_eq!(
            remove_image(&mut index, a.digest()),
            vec!["app:latest".to_owned()]
        );
        assert!(tagged_images(&index).is_empty());
    }

    #[test]
    fn names_split_into_repository_and_tag() {
        let t = ImageEntry {
            name: Some("localhost:5000/me/app:1.0".into()),
            id: digest::sha256(b""),
            created: None,
        };
        assert_eq!((t.repository(), t.tag()), ("localhost:5000/me/app", "1.0"));
    }
}
