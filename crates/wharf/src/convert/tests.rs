use std::path::Path;

use super::*;
use crate::manifest::{Base, Manifest};

/// Converts, checks that the manifest is valid, and returns both.
fn convert_with(dockerfile: &str, options: &ConvertOptions) -> (Conversion, Manifest) {
    let conversion = convert(dockerfile, options).unwrap();
    let manifest = Manifest::parse(&conversion.manifest, Path::new("wharf.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{}", conversion.manifest));
    (conversion, manifest)
}

fn conv(dockerfile: &str) -> (Conversion, Manifest) {
    convert_with(dockerfile, &ConvertOptions::default())
}

/// The notes of a severity, as `(line, message)`.
fn notes(conversion: &Conversion, severity: Severity) -> Vec<(Option<usize>, &str)> {
    conversion
        .notes
        .iter()
        .filter(|n| n.severity == severity)
        .map(|n| (n.line, n.message.as_str()))
        .collect()
}

/// The one note on `line` of that severity that mentions `part`.
#[track_caller]
fn has(conversion: &Conversion, line: usize, severity: Severity, part: &str) {
    assert!(
        conversion
            .notes
            .iter()
            .any(|n| n.line == Some(line) && n.severity == severity && n.message.contains(part)),
        "no {severity} on line {line} mentioning {part:?}: {:#?}",
        conversion.notes
    );
}

fn sources(manifest: &Manifest) -> Vec<(Vec<String>, String)> {
    manifest
        .copies
        .iter()
        .map(|c| {
            (
                c.sources.iter().map(|s| s.get_ref().clone()).collect(),
                c.dest.get_ref().clone(),
            )
        })
        .collect()
}

fn requirements(manifest: &Manifest) -> Option<&str> {
    manifest
        .python_requirements
        .as_ref()
        .map(|r| r.get_ref().as_str())
}

fn image(name: &str) -> Base {
    Base::Image(name.parse().unwrap())
}

/// The seed walkthrough's Dockerfile, beside the manifest written for it
/// by hand.
const SEED: &str = include_str!("../../../../guest-examples/python-app/Dockerfile");

#[test]
fn the_seed_dockerfile_becomes_the_hand_written_manifest() {
    let (conversion, manifest) = conv(SEED);
    assert!(conversion.is_complete());
    assert_eq!(manifest.base, image("python:3.12"));
    assert_eq!(manifest.workdir.as_deref(), Some("/app"));
    assert_eq!(manifest.cmd, Some(vec!["python".into(), "app.py".into()]));
    assert_eq!(manifest.entrypoint, None);
    assert_eq!(manifest.env, [("APP_ENV".into(), "Production".into())]);
    assert_eq!(sources(&manifest), [(vec!["app.py".into()], ".".into())]);
    assert_eq!(requirements(&manifest), None);
    // The hand-written one, guest-examples/python-app/wharf.toml, has a
    // title label besides.
    let seed = Manifest::parse(
        include_str!("../../../../guest-examples/python-app/wharf.toml"),
        Path::new("wharf.toml"),
    )
    .unwrap();
    assert_eq!(
        (&seed.base, &seed.workdir, &seed.cmd, &seed.env),
        (
            &manifest.base,
            &manifest.workdir,
            &manifest.cmd,
            &manifest.env
        )
    );
    assert_eq!(conversion.notes.len(), 1, "{:#?}", conversion.notes);
    has(
        &conversion,
        2,
        Severity::Note,
        "`python:3.11-slim` becomes `python:3.12`",
    );
    has(
        &conversion,
        2,
        Severity::Note,
        "CPython 3.12 compiled for WASI",
    );
    assert!(
        conversion
            .manifest
            .contains("# Line 2: `python:3.11-slim` becomes")
    );
}

#[test]
fn from_maps_bases_and_reports_linux_ones() {
    let (conversion, manifest) =
        conv("FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n");
    assert!(conversion.is_complete());
    assert!(conversion.notes.is_empty(), "{:#?}", conversion.notes);
    assert_eq!(manifest.base, Base::Scratch);
    assert_eq!(manifest.entrypoint, Some(vec!["/hello.wasm".into()]));

    let (conversion, manifest) = conv("# a comment\n\nFROM ubuntu:22.04\nCMD [\"/app\"]\n");
    assert!(!conversion.is_complete());
    has(
        &conversion,
        3,
        Severity::Unsupported,
        "wharf runs WebAssembly",
    );
    has(&conversion, 3, Severity::Unsupported, "FROM scratch");
    assert_eq!(manifest.base, Base::Scratch);
    assert!(conversion.manifest.contains("#     FROM ubuntu:22.04\n"));

    let (conversion, manifest) = conv("FROM python:3.13-slim\n");
    assert!(conversion.is_complete());
    has(&conversion, 1, Severity::Warning, "older than the 3.13");
    assert_eq!(manifest.base, image("python:3.12"));

    let (conversion, manifest) = conv("FROM python:3.15-sci\n");
    assert_eq!(manifest.base, image("python:3.15-sci"));
    assert!(conversion.is_complete());

    let (conversion, _) = conv("FROM --platform=linux/amd64 scratch\n");
    has(&conversion, 1, Severity::Note, "--platform");
}

#[test]
fn the_last_stage_is_translated_and_build_stages_noted() {
    let dockerfile = "\
FROM rust:1.80 AS builder
WORKDIR /src
RUN cargo build --release --target wasm32-wasip1

FROM scratch
COPY --from=builder /src/target/app.wasm /app.wasm
COPY app.toml /etc/
ENTRYPOINT [\"/app.wasm\"]
";
    let (conversion, manifest) = conv(dockerfile);
    assert!(!conversion.is_complete());
    has(
        &conversion,
        1,
        Severity::Note,
        "stage `builder` (lines 1-3) is a build stage",
    );
    has(&conversion, 6, Severity::Unsupported, "--from=builder");
    assert_eq!(manifest.base, Base::Scratch);
    assert_eq!(
        sources(&manifest),
        [(vec!["app.toml".into()], "/etc/".into())]
    );
    assert_eq!(manifest.entrypoint, Some(vec!["/app.wasm".into()]));
    // Nothing of the build stage's RUN, which is not translated.
    assert!(notes(&conversion, Severity::Unsupported).len() == 1);
    assert!(conversion.manifest.contains("#     COPY --from=builder"));
}

#[test]
fn a_stage_built_from_another_inherits_its_translation() {
    let dockerfile = "\
FROM python:3.11 AS base
ENV A=1
WORKDIR /app
CMD [\"python\", \"base.py\"]

FROM base AS app
COPY app.py .
ENTRYPOINT [\"python\"]

FROM scratch AS other
";
    let options = ConvertOptions {
        target: Some("App".into()),
        ..Default::default()
    };
    let (conversion, manifest) = convert_with(dockerfile, &options);
    assert_eq!(manifest.base, image("python:3.12"));
    assert_eq!(manifest.env, [("A".into(), "1".into())]);
    assert_eq!(manifest.workdir.as_deref(), Some("/app"));
    // An ENTRYPOINT drops the CMD it inherits, as Docker does.
    assert_eq!(manifest.cmd, None);
    assert_eq!(manifest.entrypoint, Some(vec!["python".into()]));
    has(&conversion, 10, Severity::Note, "stage `other`");
    assert!(conversion.is_complete());

    let options = ConvertOptions {
        target: Some("missing".into()),
        ..Default::default()
    };
    let error = convert(dockerfile, &options).unwrap_err();
    assert!(error.to_string().contains("base, app, other"), "{error}");
}

#[test]
fn workdir_resolves_and_relative_destinations_follow_it() {
    let dockerfile = "\
FROM scratch
WORKDIR /srv
COPY a.txt .
COPY b.txt sub/
COPY c.txt named.txt
WORKDIR app
COPY d.txt .
";
    let (conversion, manifest) = conv(dockerfile);
    assert!(conversion.is_complete());
    assert_eq!(manifest.workdir.as_deref(), Some("/srv/app"));
    assert_eq!(
        sources(&manifest),
        [
            (vec!["a.txt".into()], "/srv/".into()),
            (vec!["b.txt".into()], "/srv/sub/".into()),
            (vec!["c.txt".into()], "/srv/named.txt".into()),
            (vec!["d.txt".into()], ".".into()),
        ]
    );
}

#[test]
fn copy_and_add_flags_and_sources() {
    let dockerfile = "\
FROM scratch
COPY --chown=app:app --chmod=755 a.py b.py /app/
ADD https://example.com/x.tar.gz /opt/
ADD vendor.tar.gz /opt/
ADD conf.ini /etc/conf.ini
COPY <<EOF /etc/motd
hello
EOF
COPY [\"with space.txt\", \"/data/\"]
COPY --exclude=*.md docs/ /docs/
";
    let (conversion, manifest) = conv(dockerfile);
    has(&conversion, 2, Severity::Warning, "--chown has no meaning");
    has(&conversion, 2, Severity::Warning, "--chmod has no meaning");
    has(
        &conversion,
        3,
        Severity::Unsupported,
        "downloads at build time",
    );
    has(&conversion, 4, Severity::Unsupported, "unpacks the archive");
    has(&conversion, 6, Severity::Unsupported, "here-document");
    has(&conversion, 10, Severity::Unsupported, ".wharfignore");
    assert_eq!(
        sources(&manifest),
        [
            (vec!["a.py".into(), "b.py".into()], "/app/".into()),
            (vec!["conf.ini".into()], "/etc/conf.ini".into()),
            (vec!["with space.txt".into()], "/data/".into()),
        ]
    );
    assert!(!conversion.is_complete());
    assert!(conversion.manifest.contains("#     hello\n#     EOF\n"));
}

#[test]
fn env_in_both_forms_with_quotes_and_variables() {
    let dockerfile = r#"FROM python:3.12
ENV A=1 B="x y" C='$A' D=\$A
ENV LEGACY hello  world
ENV A=2 E=$A F=${A}
ENV PATH=/app/bin:$PATH
ENV G=${MISSING}x
"#;
    let (conversion, manifest) = conv(dockerfile);
    let env: BTreeMap<_, _> = manifest.env.iter().cloned().collect();
    assert_eq!(env["A"], "2");
    assert_eq!(env["B"], "x y");
    assert_eq!(env["C"], "$A");
    assert_eq!(env["D"], "$A");
    assert_eq!(env["LEGACY"], "hello  world");
    // One instruction's variables are those before it, as in Docker.
    assert_eq!(env["E"], "1");
    assert_eq!(env["F"], "1");
    assert_eq!(env["PATH"], "/app/bin:/usr/local/bin:/usr/bin:/bin");
    assert_eq!(env["G"], "x");
    has(
        &conversion,
        6,
        Severity::Warning,
        "`$MISSING` has no value here",
    );
    assert!(conversion.is_complete());
}

#[test]
fn args_defaults_build_args_and_substitution() {
    let dockerfile = "\
ARG PY=3.11
ARG BASE=python:${PY}-slim
FROM ${BASE}
ARG APP_DIR=/srv/app
ARG MODE
ARG PY
ARG UNSET
WORKDIR $APP_DIR
ENV MODE=${MODE:-production} PY=$PY LEVEL=${LEVEL:-info} U=${UNSET:+set}
LABEL version=\"${PY}\" dir=$APP_DIR
EXPOSE ${PORT:-8000}
COPY ${APP_DIR}.txt ./
";
    let (conversion, manifest) = conv(dockerfile);
    assert_eq!(manifest.base, image("python:3.12"));
    has(&conversion, 3, Severity::Note, "`python:3.11-slim` becomes");
    assert_eq!(manifest.workdir.as_deref(), Some("/srv/app"));
    let env: BTreeMap<_, _> = manifest.env.iter().cloned().collect();
    assert_eq!(env["MODE"], "production");
    assert_eq!(env["PY"], "3.11");
    assert_eq!(env["LEVEL"], "info");
    assert_eq!(env["U"], "");
    assert_eq!(manifest.labels["version"], "3.11");
    assert_eq!(manifest.labels["dir"], "/srv/app");
    has(&conversion, 11, Severity::Note, "wharf serve -p 8000");
    assert_eq!(
        sources(&manifest),
        [(vec!["/srv/app.txt".into()], "./".into())]
    );

    let options = ConvertOptions {
        build_args: [
            ("PY".to_owned(), "3.9".to_owned()),
            ("MODE".to_owned(), "debug".to_owned()),
            ("APP_DIR".to_owned(), "/opt".to_owned()),
            ("NOBODY".to_owned(), "x".to_owned()),
        ]
        .into(),
        ..Default::default()
    };
    let (conversion, manifest) = convert_with(dockerfile, &options);
    has(&conversion, 3, Severity::Note, "`python:3.9-slim` becomes");
    let env: BTreeMap<_, _> = manifest.env.iter().cloned().collect();
    assert_eq!(env["MODE"], "debug");
    assert_eq!(env["PY"], "3.9");
    assert_eq!(manifest.workdir.as_deref(), Some("/opt"));
    assert!(conversion.notes.iter().any(|n| n.line.is_none()
        && n.severity == Severity::Warning
        && n.message.contains("--build-arg NOBODY was not used")));
    assert_eq!(conversion.notes.last().unwrap().line, None);
}

#[test]
fn a_global_arg_reaches_a_stage_only_when_declared_there() {
    let dockerfile = "ARG V=1\nFROM scratch\nENV A=$V\nARG V\nENV B=$V\n";
    let (conversion, manifest) = conv(dockerfile);
    let env: BTreeMap<_, _> = manifest.env.iter().cloned().collect();
    assert_eq!(env["A"], "");
    assert_eq!(env["B"], "1");
    has(&conversion, 3, Severity::Warning, "`$V` has no value");
    assert_eq!(
        convert_with(
            "FROM scratch\nARG TARGETPLATFORM\nENV P=$TARGETPLATFORM\n",
            &Default::default()
        )
        .1
        .env,
        [("P".into(), "wasi/wasm".into())]
    );
}

#[test]
fn exec_and_shell_form_commands() {
    let (conversion, manifest) = conv("FROM python:3.12\nCMD python -u app.py --name 'a b'\n");
    assert!(conversion.is_complete());
    assert_eq!(
        manifest.cmd,
        Some(vec![
            "python".into(),
            "-u".into(),
            "app.py".into(),
            "--name".into(),
            "a b".into()
        ])
    );
    has(&conversion, 2, Severity::Note, "shell form");
    has(
        &conversion,
        2,
        Severity::Note,
        r#"["python", "-u", "app.py", "--name", "a b"]"#,
    );

    let (conversion, manifest) =
        conv("FROM python:3.12\nENTRYPOINT exec python \\\n    app.py\nCMD [\"--port\", \"80\"]\n");
    assert_eq!(
        manifest.entrypoint,
        Some(vec!["python".into(), "app.py".into()])
    );
    // A shell-form ENTRYPOINT ignores CMD in Docker.
    assert_eq!(manifest.cmd, None);
    has(&conversion, 4, Severity::Warning, "Docker ignores it");

    let (conversion, manifest) =
        conv("FROM python:3.12\nCMD [\"sh\", \"-c\", \"python app.py\"]\n");
    assert_eq!(manifest.cmd, Some(vec!["python".into(), "app.py".into()]));
    has(&conversion, 2, Severity::Note, "through sh");

    let (conversion, manifest) =
        conv("FROM python:3.12\nCMD [\"python\", \"a.py\"]\nCMD cd /app && python app.py\n");
    assert!(!conversion.is_complete());
    has(&conversion, 3, Severity::Unsupported, "`&&`");
    has(
        &conversion,
        3,
        Severity::Unsupported,
        "no shell in the sandbox",
    );
    has(&conversion, 3, Severity::Note, "replaces the one on line 2");
    // The last CMD counts: the earlier one is not kept.
    assert_eq!(manifest.cmd, None);

    let (conversion, _) = conv("FROM python:3.12\nCMD ['python', 'app.py']\n");
    has(&conversion, 2, Severity::Unsupported, "not valid JSON");

    let (conversion, _) = conv("FROM scratch\nENTRYPOINT [\"/bin/bash\"]\n");
    has(&conversion, 2, Severity::Unsupported, "runs the shell");

    let (conversion, _) = conv("FROM python:3.12\nCMD python $APP\n");
    has(&conversion, 2, Severity::Unsupported, "`$`");
}

#[test]
fn pythons_of_other_versions_and_other_programs() {
    let (conversion, manifest) =
        conv("FROM python:3.11-slim\nCMD [\"/usr/local/bin/python3.11\", \"app.py\"]\n");
    assert_eq!(
        manifest.cmd,
        Some(vec!["/usr/local/bin/python3".into(), "app.py".into()])
    );
    has(
        &conversion,
        2,
        Severity::Note,
        "becomes `/usr/local/bin/python3`",
    );

    let (conversion, _) =
        conv("FROM python:3.12\nCMD [\"gunicorn\", \"-b\", \"0.0.0.0:80\", \"app:app\"]\n");
    has(&conversion, 2, Severity::Warning, "python -m gunicorn");
    assert!(conversion.is_complete());
}

#[test]
fn labels_and_maintainer() {
    let (conversion, manifest) = conv(
        "FROM scratch\nLABEL org.opencontainers.image.title=\"my app\" team=core\nLABEL legacy value here\nMAINTAINER Jo <jo@example.com>\n",
    );
    assert_eq!(manifest.labels["org.opencontainers.image.title"], "my app");
    assert_eq!(manifest.labels["team"], "core");
    assert_eq!(manifest.labels["legacy"], "value here");
    assert_eq!(manifest.labels["maintainer"], "Jo <jo@example.com>");
    has(&conversion, 4, Severity::Note, "maintainer");
    assert!(conversion.is_complete());
}

#[test]
fn expose_and_volume_are_notes_that_say_what_wharf_does() {
    let (conversion, _) = conv("FROM scratch\nEXPOSE 8080/tcp 9090\nVOLUME [\"/data\"]\n");
    assert!(conversion.is_complete());
    has(&conversion, 2, Severity::Note, "wharf serve -p 8080 IMAGE");
    has(
        &conversion,
        3,
        Severity::Note,
        "wharf run -v HOST_DIR:/data IMAGE",
    );
    assert!(conversion.manifest.contains("#     EXPOSE 8080/tcp 9090\n"));
    assert!(conversion.manifest.contains("#     VOLUME [\"/data\"]\n"));
}

#[test]
fn pip_install_of_a_requirements_file_becomes_python_requirements() {
    let dockerfile = "\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD [\"python\", \"app.py\"]
";
    let (conversion, manifest) = conv(dockerfile);
    assert!(conversion.is_complete(), "{:#?}", conversion.notes);
    assert_eq!(requirements(&manifest), Some("requirements.txt"));

    // Found where a COPY took it from.
    let dockerfile = "\
FROM python:3.12
COPY deps/prod.txt /tmp/req.txt
COPY src/ /app/
RUN python3 -m pip install -U -r /tmp/req.txt && python -m compileall /app
WORKDIR /app
RUN pip install -r extra/more.txt
";
    let (conversion, manifest) = conv(dockerfile);
    assert_eq!(requirements(&manifest), Some("deps/prod.txt"));
    has(&conversion, 4, Severity::Note, "compiles every .py");
    has(
        &conversion,
        6,
        Severity::Unsupported,
        "add the line `-r src/extra/more.txt` to deps/prod.txt",
    );
}

#[test]
fn other_runs_are_unsupported_and_kept_as_comments() {
    let dockerfile = "\
FROM python:3.12
RUN apt-get update && apt-get install -y gcc \\
    && pip install -r requirements.txt
RUN pip install --upgrade pip
RUN pip install flask==3.0 gunicorn
RUN [\"make\", \"all\"]
";
    let (conversion, manifest) = conv(dockerfile);
    assert!(!conversion.is_complete());
    has(
        &conversion,
        2,
        Severity::Unsupported,
        "`apt-get update`, `apt-get install -y gcc`",
    );
    has(&conversion, 2, Severity::Unsupported, "system packages");
    assert_eq!(requirements(&manifest), Some("requirements.txt"));
    has(&conversion, 4, Severity::Note, "runs pip on the host");
    has(
        &conversion,
        5,
        Severity::Unsupported,
        "add them to requirements.txt",
    );
    has(
        &conversion,
        6,
        Severity::Unsupported,
        "RUN `make all`: wharf runs nothing at build time",
    );
    assert!(conversion.manifest.contains(
        "#     RUN apt-get update && apt-get install -y gcc \\\n#         && pip install -r requirements.txt\n"
    ));

    let (conversion, _) = conv("FROM scratch\nRUN pip install -r requirements.txt\n");
    has(&conversion, 2, Severity::Unsupported, "needs a Python base");

    let (conversion, _) = conv("FROM python:3.12\nRUN pip install numpy scipy==1.13\n");
    has(
        &conversion,
        2,
        Severity::Unsupported,
        "write them into a requirements.txt",
    );
    has(
        &conversion,
        2,
        Severity::Warning,
        "numpy, scipy need native code",
    );
    has(&conversion, 2, Severity::Warning, "python:3.15-sci");
}

#[test]
fn requirements_naming_numpy_suggest_the_sci_base() {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("requirements.txt"),
        "# data\nPandas>=2\nrequests\n",
    )
    .unwrap();
    std::fs::write(context.path().join("app.py"), "").unwrap();
    let dockerfile = "FROM python:3.11\nCOPY requirements.txt app.py ./\nRUN pip install -r requirements.txt\nCOPY missing.py ./\n";
    let options = ConvertOptions {
        context: Some(context.path().to_owned()),
        ..Default::default()
    };
    let (conversion, manifest) = convert_with(dockerfile, &options);
    assert!(conversion.is_complete());
    has(
        &conversion,
        3,
        Severity::Warning,
        "pandas needs native code",
    );
    has(
        &conversion,
        3,
        Severity::Warning,
        "from = \"python:3.15-sci\"",
    );
    has(
        &conversion,
        4,
        Severity::Warning,
        "`missing.py` is not in the build context",
    );
    // The manifest keeps the base that builds, and says which would.
    assert_eq!(manifest.base, image("python:3.12"));
    assert!(
        conversion
            .manifest
            .contains("use from = \"python:3.15-sci\".\nfrom = \"python:3.12\"")
    );
}

#[test]
fn instructions_without_meaning_are_warned_about_with_their_lines() {
    let dockerfile = "\
FROM python:3.12
USER app
HEALTHCHECK CMD curl -f http://localhost/
STOPSIGNAL SIGINT
SHELL [\"/bin/bash\", \"-c\"]
ONBUILD COPY . /app
CMD [\"python\", \"app.py\"]
";
    let (conversion, _) = conv(dockerfile);
    has(&conversion, 2, Severity::Warning, "no users");
    has(&conversion, 3, Severity::Warning, "no health checks");
    has(&conversion, 4, Severity::Warning, "no signals");
    has(&conversion, 5, Severity::Warning, "no shell");
    has(&conversion, 6, Severity::Warning, "no build triggers");
    assert!(conversion.is_complete());
    for text in [
        "USER app",
        "HEALTHCHECK CMD",
        "STOPSIGNAL",
        "SHELL [",
        "ONBUILD COPY",
    ] {
        assert!(
            conversion.manifest.contains(&format!("#     {text}")),
            "{text}"
        );
    }
}

#[test]
fn parse_errors_name_their_line() {
    let error = convert("FROM scratch\n\nFORM python\n", &Default::default()).unwrap_err();
    assert_eq!(error.line(), Some(3));
    assert_eq!(
        error.to_string(),
        "unknown instruction `FORM` (did you mean FROM?)"
    );
    let error = convert("FROM scratch\nBOGUS x\n", &Default::default()).unwrap_err();
    assert!(
        error.to_string().contains("starts with one of ADD"),
        "{error}"
    );
    let error = convert("# nothing\n", &Default::default()).unwrap_err();
    assert_eq!(error.line(), None);
    assert!(error.to_string().contains("FROM"), "{error}");
    let error = convert("WORKDIR /app\nFROM scratch\n", &Default::default()).unwrap_err();
    assert_eq!(error.line(), Some(1));
}

#[test]
fn lines_count_continuations_and_a_byte_order_mark() {
    let dockerfile = "\u{feff}FROM scratch\nENV A=1 \\\n    B=2\n\n# comment\nUSER x\n";
    let (conversion, manifest) = conv(dockerfile);
    assert_eq!(manifest.env.len(), 2);
    has(&conversion, 6, Severity::Warning, "no users");
}

#[test]
fn the_escape_directive_is_followed() {
    let dockerfile = "# escape=`\nFROM scratch\nWORKDIR C:\\app\nENV A=x` y B=1 `\n  C=2\n";
    let (conversion, manifest) = conv(dockerfile);
    assert!(conversion.is_complete());
    let env: BTreeMap<_, _> = manifest.env.iter().cloned().collect();
    assert_eq!(env["A"], "x y");
    assert_eq!(env["C"], "2");
}

#[test]
fn odd_text_still_gives_a_valid_manifest() {
    let dockerfile = "FROM scratch\nRUN printf '\u{1}\u{7f}\r' \"é\"\nLABEL \"a b\"=\"c\\\"d\" k=\"line\\\nnext\"\nENV \"x.y\"=\"1\"\nCMD [\"a\\u0000b\"]\n";
    let (_, manifest) = conv(dockerfile);
    assert_eq!(manifest.labels["a b"], "c\"d");
    assert_eq!(manifest.env, [("x.y".into(), "1".into())]);
}

#[test]
fn inputs_the_fuzzer_found_convert_without_panicking() {
    // A span of the parser's that ends inside a character.
    conv(
        "FROM python:3.12 AS base\nENV A=1 B=\"x y\" C='$AV OPY requirements.txt .\"\"\"UN apt-get update =\"x y\" C='$A' \\\n    D=${A:-z}\nENV LEon:3612 AS base\nENV A=1 B=\"xc \\\n    # a\u{7710}",
    );
    // MAINTAINER twice.
    conv("FROM scratch\nMAINTAINER a\nMAINTAINER b\n");
}
