//! Layer builds: an app Dockerfile that only adds files and settings to its base image is
//! built without the engine's builder. hoist writes the one new layer (a tar of the copied
//! files) and the image config (the base's, with the settings applied) itself, and hands
//! the engine an image archive to load (`POST /images/load`). The archive names the base's
//! layers but carries only the new one: the engine skips reading layers it already has.
//!
//! Why: the classic builder (the only one the Engine API offers without BuildKit's gRPC
//! session) commits a container for every instruction, metadata ones included, and even a
//! single `docker commit` takes seconds on overlay-on-FUSE storage; loading a small layer
//! takes a tenth of a second.
//!
//! Only a strict subset qualifies, and anything else falls back to the engine's builder,
//! so the result is always what the Dockerfile says: `ARG`, one `FROM` (no `AS`), `COPY`
//! of plain paths from the context (no `--from`, `--chown`, globs or URLs), `ENV`,
//! `LABEL`, `WORKDIR`, `USER`, `CMD`, `ENTRYPOINT`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`.
//! Variables (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`) are expanded from build
//! args, `ARG` defaults and earlier `ENV`s, as Docker does. No crate gives Dockerfiles
//! these semantics (`dockerfile-parser` gives syntax only), hence this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a qualifying Dockerfile does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    /// The base image reference, variables expanded.
    pub base: String,
    pub copies: Vec<Copy>,
    /// Changes to the image config, in Dockerfile order.
    pub settings: Vec<Setting>,
    /// Directories `WORKDIR` names; Docker creates them.
    pub workdirs: Vec<String>,
}

/// One `COPY`: context-relative sources to an absolute destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub sources: Vec<String>,
    pub dest: String,
}

/// One change to the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Env(String, String),
    Label(String, String),
    Workdir(String),
    User(String),
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Expose(String),
    Volume(String),
    StopSignal(String),
}

/// Applies `settings` to a base image's config, as the builder would.
pub fn apply(config: &mut bollard::models::ImageConfig, settings: &[Setting]) {
    for setting in settings {
        match setting {
            Setting::Env(key, value) => {
                let env = config.env.get_or_insert_with(Vec::new);
                let entry = format!("{key}={value}");
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
                {
                    Some(existing) => *existing = entry,
                    None => env.push(entry),
                }
            }
            Setting::Label(key, value) => {
                config
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(key.clone(), value.clone());
            }
            Setting::Workdir(dir) => config.working_dir = Some(dir.clone()),
            Setting::User(user) => config.user = Some(user.clone()),
            Setting::Cmd(cmd) => config.cmd = Some(cmd.clone()),
            Setting::Entrypoint(entrypoint) => {
                config.entrypoint = Some(entrypoint.clone());
                // Docker: a new ENTRYPOINT resets the base image's CMD.
                config.cmd = None;
            }
            Setting::Expose(port) => {
                let ports = config.exposed_ports.get_or_insert_with(Vec::new);
                if !ports.contains(port) {
                    ports.push(port.clone());
                }
            }
            Setting::Volume(path) => {
                let volumes = config.volumes.get_or_insert_with(Vec::new);
                if !volumes.contains(path) {
                    volumes.push(path.clone());
                }
            }
            Setting::StopSignal(signal) => config.stop_signal = Some(signal.clone()),
        }
    }
}

/// `["a", "b"]` as is; the shell form through `/bin/sh -c`, as Docker runs it.
fn command(text: &str) -> Result<Vec<String>, Unsupported> {
    if text.starts_with('[') {
        serde_json::from_str(text)
            .map_err(|e| format!("`{text}` is not a JSON array of strings: {e}"))
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), text.to_string()])
    }
}

/// Why a Dockerfile takes the engine's builder; shown in the build output.
pub type Unsupported = String;

/// Plans a layer build of `dockerfile` with `args`, or says why it needs the builder.
pub fn plan(dockerfile: &str, args: &BTreeMap<String, String>) -> Result<LayerPlan, Unsupported> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut declared: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut base = None;
    let mut copies = Vec::new();
    let mut settings = Vec::new();
    let mut workdirs = Vec::new();
    let mut workdir = String::from("/");
    for line in logical_lines(dockerfile) {
        let (keyword, rest) = line
            .split_once(char::is_whitespace)
            .unwrap_or((line.as_str(), ""));
        let rest = rest.trim();
        let keyword = keyword.to_ascii_uppercase();
        // Build args are visible only once declared, and (before FROM) only to FROM.
        let visible = |vars: &BTreeMap<String, String>,
                       declared: &BTreeMap<String, Option<String>>| {
            let mut all = vars.clone();
            for (name, default) in declared {
                if let Some(value) = args.get(name).or(default.as_ref()) {
                    all.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
            all
        };
        match keyword.as_str() {
            "ARG" => {
                let (name, default) = match rest.split_once('=') {
                    Some((n, d)) => (
                        n.trim(),
                        Some(unquote(&expand(d.trim(), &visible(&vars, &declared))?)),
                    ),
                    None => (rest, None),
                };
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(format!("ARG `{rest}` declares more than one name"));
                }
                declared.insert(name.to_string(), default);
            }
            "FROM" => {
                if base.is_some() {
                    return Err("more than one FROM (multi-stage builds need the builder)".into());
                }
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.len() != 1 || words[0].starts_with("--") {
                    return Err(format!("`FROM {rest}` has options or a stage name"));
                }
                base = Some(expand(words[0], &visible(&vars, &declared))?);
                // ARGs declared before FROM are out of scope after it.
                declared.clear();
            }
            _ if base.is_none() => return Err(format!("{keyword} before FROM")),
            "COPY" => {
                let expanded = expand(rest, &visible(&vars, &declared))?;
                if expanded.starts_with('[') || expanded.starts_with("--") {
                    return Err(format!("`COPY {rest}` uses options or the JSON form"));
                }
                let mut words: Vec<String> =
                    expanded.split_whitespace().map(str::to_string).collect();
                if words.len() < 2 {
                    return Err(format!("`COPY {rest}` needs a source and a destination"));
                }
                let dest = words.pop().unwrap_or_default();
                if words
                    .iter()
                    .any(|s| s.contains(['*', '?', '[']) || s.contains("://"))
                {
                    return Err(format!("`COPY {rest}` uses wildcards or URLs"));
                }
                let dest = if dest.starts_with('/') {
                    dest
                } else {
                    join(&workdir, &dest)
                };
                copies.push(Copy {
                    sources: words,
                    dest,
                });
            }
            "ENV" => {
                // Split first, then expand each value: a value may hold spaces.
                for (key, value) in env_pairs(rest)? {
                    let value = expand(&value, &visible(&vars, &declared))?;
                    vars.insert(key.clone(), value.clone());
                    settings.push(Setting::Env(key, value));
                }
            }
            "LABEL" => {
                for (key, value) in env_pairs(rest)? {
                    let value = expand(&value, &visible(&vars, &declared))?;
                    settings.push(Setting::Label(unquote(&key), value));
                }
            }
            "WORKDIR" => {
                let dir = expand(rest, &visible(&vars, &declared))?;
                workdir = if dir.starts_with('/') {
                    dir
                } else {
                    join(&workdir, &dir)
                };
                workdirs.push(workdir.clone());
                settings.push(Setting::Workdir(workdir.clone()));
            }
            "USER" => settings.push(Setting::User(expand(rest, &visible(&vars, &declared))?)),
            "STOPSIGNAL" => settings.push(Setting::StopSignal(expand(
                rest,
                &visible(&vars, &declared),
            )?)),
            // Not expanded by Docker either: they are run-time values.
            "CMD" => settings.push(Setting::Cmd(command(rest)?)),
            "ENTRYPOINT" => settings.push(Setting::Entrypoint(command(rest)?)),
            "EXPOSE" => {
                for port in expand(rest, &visible(&vars, &declared))?.split_whitespace() {
                    let port = if port.contains('/') {
                        port.to_string()
                    } else {
                        format!("{port}/tcp")
                    };
                    settings.push(Setting::Expose(port));
                }
            }
            "VOLUME" => {
                let paths = if rest.starts_with('[') {
                    command(rest)?
                } else {
                    rest.split_whitespace().map(str::to_string).collect()
                };
                settings.extend(paths.into_iter().map(Setting::Volume));
            }
            other => return Err(format!("{other} needs the engine's builder")),
        }
    }
    let base = base.ok_or_else(|| "no FROM".to_string())?;
    Ok(LayerPlan {
        base,
        copies,
        settings,
        workdirs,
    })
}

/// Joins continuation lines and drops comments and blank lines.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            lines.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        lines.push(current);
    }
    lines
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`; `\$` is a literal `$`.
fn expand(text: &str, vars: &BTreeMap<String, String>) -> Result<String, Unsupported> {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                let (name, op) = match inner.find(':') {
                    Some(i) => (&inner[..i], Some(&inner[i..])),
                    None => (inner.as_str(), None),
                };
                let value = vars.get(name).filter(|v| !v.is_empty());
                match op {
                    None => out.push_str(vars.get(name).map_or("", String::as_str)),
                    Some(op) if op.starts_with(":-") => {
                        out.push_str(value.map_or(&op[2..], String::as_str))
                    }
                    Some(op) if op.starts_with(":+") => {
                        out.push_str(if value.is_some() { &op[2..] } else { "" })
                    }
                    Some(op) => {
                        return Err(format!(
                            "the substitution `${{{name}{op}}}` needs the builder"
                        ));
                    }
                }
            }
            '$' if chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
            {
                let mut name = String::new();
                while let Some(c) = chars
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
                {
                    name.push(*c);
                    chars.next();
                }
                out.push_str(vars.get(&name).map_or("", String::as_str));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `K=V K2="v 2"` (or the legacy `K V`) into pairs.
fn env_pairs(text: &str) -> Result<Vec<(String, String)>, Unsupported> {
    if !text.contains('=') {
        let (k, v) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("`ENV {text}` has no value"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("`ENV {text}` mixes forms"))?;
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("`ENV {text}` has an unclosed quote"))?;
            (quoted[..end].to_string(), &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        pairs.push((key.trim().to_string(), value));
        rest = remaining.trim_start();
    }
    Ok(pairs)
}

fn unquote(s: &str) -> String {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}

fn join(dir: &str, rel: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), rel)
}

/// The tar to upload at `/`: each `COPY`'s files at their destinations, and the
/// `WORKDIR` directories. `context_files` is the `.dockerignore`-filtered context.
///
/// Parent directories of copied files get no entries of their own: the engine creates
/// missing ones (root, 0755) as `COPY` does, and an entry would re-own existing ones.
pub fn layer_tar(
    plan: &LayerPlan,
    context: &Path,
    context_files: &[PathBuf],
) -> Result<Vec<u8>, Unsupported> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs_done = std::collections::BTreeSet::new();
    let mut add_dir = |tar: &mut tar::Builder<Vec<u8>>, dir: &str| -> Result<(), Unsupported> {
        let mut path = String::new();
        for part in dir.trim_matches('/').split('/').filter(|p| !p.is_empty()) {
            path.push_str(part);
            path.push('/');
            if dirs_done.insert(path.clone()) {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_cksum();
                tar.append_data(&mut header, &path, std::io::empty())
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    };
    for dir in &plan.workdirs {
        add_dir(&mut tar, dir)?;
    }
    for (target, source) in placements(plan, context, context_files)? {
        append_file(&mut tar, &source, &target)?;
    }
    tar.into_inner().map_err(|e| e.to_string())
}

/// Where each copied file goes: (absolute path in the image, file in the context), in
/// Dockerfile order (a later COPY of the same path wins when unpacked).
pub fn placements(
    plan: &LayerPlan,
    context: &Path,
    context_files: &[PathBuf],
) -> Result<Vec<(String, PathBuf)>, Unsupported> {
    let mut placed = Vec::new();
    for copy in &plan.copies {
        let dest_is_dir = copy.dest.ends_with('/') || copy.sources.len() > 1;
        for source in &copy.sources {
            let source_rel = clean(source);
            let full = context.join(&source_rel);
            let meta = std::fs::metadata(&full).map_err(|e| format!("COPY {source}: {e}"))?;
            if meta.is_dir() {
                // A directory's contents go into the destination directory.
                let inside = context_files
                    .iter()
                    .filter(|f| source_rel.as_os_str().is_empty() || f.starts_with(&source_rel));
                for file in inside {
                    let rel = file.strip_prefix(&source_rel).unwrap_or(file);
                    let target = format!("{}/{}", copy.dest.trim_end_matches('/'), rel.display());
                    placed.push((target, context.join(file)));
                }
            } else {
                if !context_files.contains(&source_rel) {
                    return Err(format!(
                        "COPY {source}: excluded by .dockerignore or outside the context"
                    ));
                }
                let target = if dest_is_dir {
                    let name = source_rel
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{}/{name}", copy.dest.trim_end_matches('/'))
                } else {
                    copy.dest.clone()
                };
                placed.push((target, full));
            }
        }
    }
    Ok(placed)
}

fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    target: &str,
) -> Result<(), Unsupported> {
    let name = target.trim_start_matches('/');
    tar.append_path_with_name(path, name)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A context-relative path without `./`, leading `/` or trailing `/`.
fn clean(source: &str) -> PathBuf {
    source
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect()
}

/// The image archive (`docker save` layout) to load: the new image's config, a manifest
/// naming every layer, and only the new layer's file. Returns the archive and the image id
/// the engine will give it (the sha256 of the config).
pub fn image_archive(
    base: &bollard::models::ImageInspect,
    plan: &LayerPlan,
    layer: &[u8],
    labels: &BTreeMap<String, String>,
    tag: &str,
) -> Result<(Vec<u8>, String), Unsupported> {
    use sha2::{Digest, Sha256};

    let mut config = base.config.clone().unwrap_or_default();
    apply(&mut config, &plan.settings);
    let image_labels = config.labels.get_or_insert_with(Default::default);
    for (key, value) in labels {
        image_labels.insert(key.clone(), value.clone());
    }
    let mut diff_ids = base
        .root_fs
        .as_ref()
        .and_then(|r| r.layers.clone())
        .unwrap_or_default();
    diff_ids.push(format!("sha256:{}", hex::encode(Sha256::digest(layer))));
    // The commit time (hoist's `created` label) keeps rebuilds of a commit identical.
    let created = labels
        .get(hoist_core::labels::CREATED)
        .cloned()
        .unwrap_or_else(|| jiff::Timestamp::now().to_string());
    let mut image = serde_json::json!({
        "architecture": base.architecture.clone().unwrap_or_else(|| "amd64".into()),
        "os": base.os.clone().unwrap_or_else(|| "linux".into()),
        "created": created,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    if let Some(variant) = &base.variant {
        image["variant"] = serde_json::Value::String(variant.clone());
    }
    let config_json = serde_json::to_vec(&image).map_err(|e| e.to_string())?;
    let config_hex = hex::encode(Sha256::digest(&config_json));
    let layer_paths: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", d.trim_start_matches("sha256:")))
        .collect();
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": layer_paths,
    }]);
    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| -> Result<(), Unsupported> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, name, data)
            .map_err(|e| e.to_string())
    };
    add(&format!("{config_hex}.json"), &config_json)?;
    add(
        layer_paths.last().map_or("layer.tar", String::as_str),
        layer,
    )?;
    add(
        "manifest.json",
        &serde_json::to_vec(&manifest).map_err(|e| e.to_string())?,
    )?;
    let bytes = archive.into_inner().map_err(|e| e.to_string())?;
    Ok((bytes, format!("sha256:{config_hex}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_example_app_dockerfile_qualifies() {
        let text = "# app\nARG HOIST_BASE\nFROM ${HOIST_BASE}\n\nCOPY clinic/ /srv/clinic/clinic/\nARG HOIST_VERSION=dev\nENV APP_VERSION=${HOIST_VERSION}\n";
        let plan = plan(
            text,
            &args(&[
                ("HOIST_BASE", "clinic-base:fp-1"),
                ("HOIST_VERSION", "v1.2.0"),
            ]),
        )
        .unwrap();
        assert_eq!(plan.base, "clinic-base:fp-1");
        assert_eq!(
            plan.copies,
            vec![Copy {
                sources: vec!["clinic/".into()],
                dest: "/srv/clinic/clinic/".into()
            }]
        );
        assert_eq!(
            plan.settings,
            vec![Setting::Env("APP_VERSION".into(), "v1.2.0".into())]
        );
    }

    #[test]
    fn arg_defaults_env_chaining_and_substitution_forms() {
        let text = "ARG BASE=scratch-base\nFROM $BASE\nARG V\nENV A=${V:-none} B=\"x y\"\nENV C=${A}-$B D=${V:+set}\nWORKDIR app\nLABEL a=\"$A\"\nCMD [\"run\", \"$A\"]\n";
        let p = plan(text, &BTreeMap::new()).unwrap();
        assert_eq!(p.base, "scratch-base");
        use Setting::*;
        let s = |v: &str| v.to_string();
        assert_eq!(
            p.settings,
            vec![
                Env(s("A"), s("none")),
                Env(s("B"), s("x y")),
                Env(s("C"), s("none-x y")),
                Env(s("D"), s("")),
                Workdir(s("/app")),
                Label(s("a"), s("none")),
                Cmd(vec![s("run"), s("$A")]),
            ]
        );
        assert_eq!(p.workdirs, vec!["/app"]);
    }

    #[test]
    fn settings_apply_like_the_builder() {
        let mut config = bollard::models::ImageConfig {
            env: Some(vec!["PATH=/bin".into(), "A=old".into()]),
            cmd: Some(vec!["serve".into()]),
            ..Default::default()
        };
        let p = plan(
            "FROM b\nENV A=new\nENTRYPOINT [\"tini\", \"--\"]\nEXPOSE 8000 53/udp\nLABEL \"team\"=clinic\nSTOPSIGNAL SIGINT\nUSER app\n",
            &BTreeMap::new(),
        )
        .unwrap();
        apply(&mut config, &p.settings);
        assert_eq!(config.env.unwrap(), ["PATH=/bin", "A=new"]);
        assert_eq!(config.entrypoint.unwrap(), ["tini", "--"]);
        assert_eq!(config.cmd, None, "a new ENTRYPOINT resets the base's CMD");
        assert_eq!(config.exposed_ports.unwrap(), ["8000/tcp", "53/udp"]);
        assert_eq!(config.labels.unwrap()["team"], "clinic");
        assert_eq!(config.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(config.user.as_deref(), Some("app"));
        let shell = plan("FROM b\nCMD exec serve --port 80\n", &BTreeMap::new()).unwrap();
        assert_eq!(
            shell.settings,
            vec![Setting::Cmd(vec![
                "/bin/sh".into(),
                "-c".into(),
                "exec serve --port 80".into()
            ])]
        );
    }

    #[test]
    fn anything_else_takes_the_builder() {
        for (text, why) in [
            ("FROM a\nRUN make\n", "RUN"),
            ("FROM a AS build\n", "stage name"),
            ("FROM a\nFROM b\n", "more than one FROM"),
            ("FROM a\nCOPY --from=x /a /b\n", "options"),
            ("FROM a\nCOPY --chown=1:1 a /b\n", "options"),
            ("FROM a\nCOPY *.py /app/\n", "wildcards"),
            ("COPY a /b\n", "before FROM"),
            ("FROM a\nCOPY [\"a\", \"/b\"]\n", "JSON form"),
            ("FROM a\nHEALTHCHECK CMD true\n", "HEALTHCHECK"),
        ] {
            let err = plan(text, &BTreeMap::new()).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn layer_tar_places_files_like_copy_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "app/main.py",
            "app/pkg/mod.py",
            "settings.toml",
            "README.md",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), f).unwrap();
        }
        let files: Vec<PathBuf> = ["app/main.py", "app/pkg/mod.py", "settings.toml"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let plan = plan("FROM b\nCOPY app/ /srv/app/\nCOPY settings.toml /etc/app.toml\nCOPY settings.toml /etc/conf/\nWORKDIR /data\n", &BTreeMap::new()).unwrap();
        let tar = layer_tar(&plan, root, &files).unwrap();
        let mut names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "data/",
                "etc/app.toml",
                "etc/conf/settings.toml",
                "srv/app/main.py",
                "srv/app/pkg/mod.py"
            ]
        );
        // A file .dockerignore excluded cannot be copied.
        let plan = super::plan("FROM b\nCOPY README.md /r\n", &BTreeMap::new()).unwrap();
        assert!(
            layer_tar(&plan, root, &files)
                .unwrap_err()
                .contains(".dockerignore")
        );
    }
}
