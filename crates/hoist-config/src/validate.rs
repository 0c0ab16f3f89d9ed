//! Checks that types cannot express. Each failure points at the offending value.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use crate::runtime::{self, RuntimeConfig};
use crate::span::{Document, Seg};
use crate::{Config, ConfigError};

/// Checks `config`, adding every problem found to `errors`, and returns each environment's
/// resolved runtime and its named runtimes, for [`crate::Environment::runtime`] and
/// [`crate::Environment::runtimes`]. Checks go on after a problem, so
/// one run shows every problem of the file; a check that depends on a value found wrong is
/// skipped rather than reported twice.
pub(crate) fn validate(
    config: &Config,
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, (RuntimeConfig, BTreeMap<String, RuntimeConfig>)> {
    let fail = |span: std::ops::Range<usize>, key: String, message: String, help: &str| {
        ConfigError::invalid(path, text, span, key, message, Some(help.to_string()))
    };
    // Parsed again only if a check needs to know which keys were written, and where.
    let doc = std::cell::LazyCell::new(|| Document::parse(text));

    let name = &config.app.name;
    if !is_name(name.get_ref()) {
        errors.push(fail(
            name.span(),
            "app.name".into(),
            format!("`{}` is not a valid app name", name.get_ref()),
            "use lowercase letters, digits, `-` and `_`, starting with a letter or digit",
        ));
    }
    let image = &config.app.image;
    if let Some(problem) = image_repository_problem(image.get_ref()) {
        errors.push(fail(
            image.span(),
            "app.image".into(),
            format!(
                "`{}` is not an image repository: {problem}",
                image.get_ref()
            ),
            "write a repository without tag or digest, e.g. `registry.example.com/team/app` or `clinic`",
        ));
    }
    for (field, value) in [
        ("health_path", Some(config.app.health_path.as_str())),
        ("version_path", config.app.version_path.as_deref()),
    ] {
        if let Some(p) = value
            && let Some(problem) = url_path_problem(p)
        {
            // The value as written; a defaulted path is valid, so it is always written.
            let span = doc
                .span(&[Seg::Key("app"), Seg::Key(field)])
                .unwrap_or_else(|| name.span());
            errors.push(fail(
                span,
                format!("app.{field}"),
                problem,
                "start the path with `/`, e.g. \"/healthz\"",
            ));
        }
    }

    config.prune.validate(path, text, errors);
    config.server.validate(path, text, errors);
    crate::hosts::validate(&config.hosts, path, text, errors);
    if let Some(registry) = &config.registry {
        registry.validate(path, text, &config.root, errors);
    }

    let deps = &config.build.dependencies;
    if deps.get_ref().is_empty() {
        errors.push(fail(
            deps.span(),
            "build.dependencies".into(),
            "no dependency inputs are listed".into(),
            "list the files your base image installs from, e.g. [\"requirements*.txt\"]",
        ));
    }
    for (i, glob) in deps.get_ref().iter().enumerate() {
        let key = format!("build.dependencies[{i}]");
        let span = doc
            .span(&[Seg::Key("build"), Seg::Key("dependencies"), Seg::Index(i)])
            .unwrap_or_else(|| deps.span());
        if glob.starts_with('/') || glob.split('/').any(|part| part == "..") {
            errors.push(fail(
                span,
                key,
                format!("`{glob}` leaves the build context"),
                "write globs relative to build.context, without a leading `/` or `..`",
            ));
        } else if let Err(e) = globset::Glob::new(glob) {
            errors.push(fail(
                span,
                key,
                format!("`{glob}` is not a valid glob: {}", e.kind()),
                "use `*`, `?`, `**`, `[abc]` and `{a,b}` as in .gitignore",
            ));
        }
    }

    // (engine, published port) and (engine, container or service name) must be unique
    // across every environment: two instances cannot share either on one engine. The
    // engine is the instance's `host` for containers and the runtime's `host` for swarm
    // services; containers and services share the engine's ports, not their names.
    let mut ports: BTreeMap<(String, u16), String> = BTreeMap::new();
    let mut names: BTreeMap<(String, &str, String), String> = BTreeMap::new();
    let mut runtimes = BTreeMap::new();
    for (env_name, env) in &config.environments {
        let env_key = format!("environments.{env_name}");
        if !is_name(env_name) {
            errors.push(fail(
                env.span(),
                env_key.clone(),
                format!("`{env_name}` is not a valid environment name"),
                "use lowercase letters, digits, `-` and `_`",
            ));
        }
        let env_ref = env.get_ref();
        crate::tasks::validate(env_name, &env_ref.tasks, path, text, errors);
        crate::volumes::validate(
            &env_ref.volumes,
            &format!("{env_key}.volumes"),
            path,
            text,
            errors,
        );
        // Tenants whose runtime cannot mount the environment's volumes, with its kind.
        let mut cannot_mount: Vec<(String, &str, &str)> = Vec::new();
        let concurrency = &env_ref.rollout.concurrency;
        if *concurrency.get_ref() == 0 {
            errors.push(fail(
                span_or(concurrency, env),
                format!("{env_key}.rollout.concurrency"),
                "concurrency 0 would never deploy anything".into(),
                "set it to 1 or more (1 switches instances one by one)",
            ));
        }
        let stop_timeout = env_ref.rollout.stop_timeout;
        if let Some(problem) = stop_timeout_problem(stop_timeout) {
            errors.push(fail(
                doc.span(&[
                    Seg::Key("environments"),
                    Seg::Key(env_name),
                    Seg::Key("rollout"),
                    Seg::Key("stop_timeout"),
                ])
                .unwrap_or_else(|| env.span()),
                format!("{env_key}.rollout.stop_timeout"),
                problem,
                "give whole seconds, e.g. \"10s\" or \"1m\" (at most 1h); \"0s\" kills at once",
            ));
        }
        // A runtime table found wrong leaves the checks that depend on it undone.
        let runtime = match runtime::resolve(
            env_ref.runtime_table.as_ref(),
            &format!("{env_key}.runtime"),
            env.span(),
            path,
            text,
        ) {
            // The Docker runtime gets the environment's settings that concern it.
            Ok(RuntimeConfig::Docker(mut docker)) => {
                docker.stop_timeout = stop_timeout;
                if let Some(bind) = &env_ref.bind {
                    match parse_bind(bind.get_ref()) {
                        Ok(ip) => docker.bind = ip,
                        Err(problem) => errors.push(fail(
                            bind.span(),
                            format!("{env_key}.bind"),
                            problem,
                            "write an IP address of the engine's host: \"127.0.0.1\" (only this host, e.g. behind a proxy), \"0.0.0.0\" (every address, the default) or one address such as \"10.0.0.5\"",
                        )),
                    }
                }
                Some(RuntimeConfig::Docker(docker))
            }
            Ok(RuntimeConfig::Swarm(swarm)) => {
                if let Some(bind) = &env_ref.bind {
                    errors.push(fail(
                        bind.span(),
                        format!("{env_key}.bind"),
                        format!("`bind` does not apply to {env_name}'s kind \"swarm\": Swarm publishes a service's port on every address of the node"),
                        "remove the key; with publish = \"host\", limit who reaches the port with the node's firewall",
                    ));
                }
                Some(RuntimeConfig::Swarm(swarm))
            }
            Ok(kubernetes @ RuntimeConfig::Kubernetes(_)) => Some(kubernetes),
            Ok(RuntimeConfig::Http(http)) => {
                // Release tasks need the platform's `task` requests (a preset has them).
                let used = env_ref
                    .instances
                    .get_ref()
                    .iter()
                    .any(|i| i.get_ref().runtime.is_none());
                if let (None, Some(first), true) = (&http.task, env_ref.tasks.first(), used) {
                    errors.push(fail(
                        first.span(),
                        format!("{env_key}.tasks[0]"),
                        format!("release tasks cannot run on {env_name}'s kind \"http\" without `task` requests"),
                        "add [environments.NAME.runtime.task] with start and status requests (docs/http-runtime.md), use preset = \"fly-machines\", or remove the tasks",
                    ));
                }
                Some(RuntimeConfig::Http(http))
            }
            Err(e) => {
                errors.push(e);
                None
            }
        };
        // Named runtimes' Docker gets the environment's settings too (`bind` was checked
        // above, with the environment's runtime).
        let named = crate::named_runtimes::resolve(
            &env_ref.runtimes_table,
            &env_key,
            path,
            text,
            |mut docker| {
                docker.stop_timeout = stop_timeout;
                if let Some(ip) = env_ref
                    .bind
                    .as_ref()
                    .and_then(|b| parse_bind(b.get_ref()).ok())
                {
                    docker.bind = ip;
                }
                docker
            },
            errors,
        );
        // The same for named http runtimes some instance picks.
        if let Some(first) = env_ref.tasks.first() {
            let without_task = env_ref
                .instances
                .get_ref()
                .iter()
                .filter_map(|i| i.get_ref().runtime.as_ref())
                .map(|label| label.get_ref().as_str())
                .find(|label| {
                    matches!(named.get(*label), Some(RuntimeConfig::Http(http)) if http.task.is_none())
                });
            if let Some(label) = without_task {
                errors.push(fail(
                    first.span(),
                    format!("{env_key}.tasks[0]"),
                    format!("release tasks cannot run on {env_name}'s runtime `{label}` (kind \"http\") without `task` requests"),
                    "add [environments.NAME.runtimes.LABEL.task] with start and status requests (docs/http-runtime.md), use preset = \"fly-machines\", or remove the tasks",
                ));
            }
        }
        let instances = &env_ref.instances;
        if instances.get_ref().is_empty() {
            errors.push(fail(
                instances.span(),
                format!("{env_key}.instances"),
                "the environment has no instances".into(),
                "add at least one [[environments.NAME.instances]] table with tenant and port",
            ));
        }
        let mut tenants = BTreeMap::new();
        for (i, instance) in instances.get_ref().iter().enumerate() {
            let key = format!("{env_key}.instances[{i}]");
            let inst = instance.get_ref();
            let tenant = &inst.tenant;
            // A tenant's default name follows from the tenant: a bad or repeated tenant is
            // not reported again as a bad or repeated name.
            let mut tenant_ok = false;
            if !is_name(tenant.get_ref()) {
                errors.push(fail(
                    tenant.span(),
                    format!("{key}.tenant"),
                    format!("`{}` is not a valid tenant name", tenant.get_ref()),
                    "use lowercase letters, digits, `-` and `_`, starting with a letter or digit",
                ));
            } else if tenants.insert(tenant.get_ref().clone(), i).is_some() {
                errors.push(fail(
                    tenant.span(),
                    format!("{key}.tenant"),
                    format!("tenant `{}` appears twice in {env_name}", tenant.get_ref()),
                    "give each instance of an environment its own tenant name",
                ));
            } else {
                tenant_ok = true;
            }
            let written = |field: &str| {
                doc.span(&[
                    Seg::Key("environments"),
                    Seg::Key(env_name),
                    Seg::Key("instances"),
                    Seg::Index(i),
                    Seg::Key(field),
                ])
            };
            for (field, value) in [
                ("health_path", inst.health_path.as_deref()),
                ("version_path", inst.version_path.as_deref()),
            ] {
                if let Some(p) = value
                    && let Some(problem) = url_path_problem(p)
                {
                    errors.push(fail(
                        written(field).unwrap_or_else(|| instance.span()),
                        format!("{key}.{field}"),
                        problem,
                        "start the path with `/`, e.g. \"/healthz\"",
                    ));
                }
            }
            crate::volumes::validate(&inst.volumes, &format!("{key}.volumes"), path, text, errors);
            let port = &inst.port;
            if *port.get_ref() == 0 {
                errors.push(fail(
                    port.span(),
                    format!("{key}.port"),
                    "port 0 cannot be published".into(),
                    "choose a host port between 1 and 65535",
                ));
            }
            let Some(env_runtime) = &runtime else {
                continue;
            };
            let Some(runtime) = crate::named_runtimes::of_instance(
                inst,
                env_runtime,
                &named,
                &env_ref.runtimes_table,
                &key,
                path,
                text,
                errors,
            ) else {
                continue;
            };
            if let Some((kind, help)) = crate::volumes::unsupported(runtime) {
                if !inst.volumes.is_empty() {
                    errors.push(fail(
                        written("volumes").unwrap_or_else(|| instance.span()),
                        format!("{key}.volumes"),
                        format!(
                            "volumes are for the docker and swarm runtimes; {} runs on kind \"{kind}\"",
                            tenant.get_ref()
                        ),
                        help,
                    ));
                }
                cannot_mount.push((tenant.get_ref().clone(), kind, help));
            }
            // A `[hosts]` name and its address are one engine.
            let resolved_host = crate::hosts::resolve(&config.hosts, &inst.host);
            let engine = match runtime {
                RuntimeConfig::Docker(docker) => {
                    if !config.hosts.contains_key(&inst.host)
                        && let Some(problem) = runtime::engine_address_problem(&inst.host)
                    {
                        errors.push(fail(
                            written("host").unwrap_or_else(|| instance.span()),
                            format!("{key}.host"),
                            format!("{problem}, nor a name of [hosts]"),
                            "write a name of [hosts], `unix:///var/run/docker.sock`, `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]`",
                        ));
                        continue;
                    }
                    if docker.bind.is_loopback()
                        && let Some(engine_host) = resolved_host.strip_prefix("tcp://")
                        && !is_loopback_host(engine_host)
                        && let Some(bind) = &env_ref.bind
                    {
                        errors.push(fail(
                            bind.span(),
                            format!("{env_key}.bind"),
                            format!(
                                "`{}` is the loopback address of {}'s engine host, where hoist (on this machine) cannot probe {key}",
                                bind.get_ref(),
                                inst.host
                            ),
                            "bind to an address of that host that this machine reaches, or run hoist on that host with the local engine",
                        ));
                    }
                    &resolved_host
                }
                RuntimeConfig::Swarm(swarm) => {
                    if let Some(span) = written("host") {
                        errors.push(fail(
                            span,
                            format!("{key}.host"),
                            format!(
                                "`host` does not apply to an instance of {env_name}: its service runs on the swarm of the runtime's `host`"
                            ),
                            "remove the key; set the swarm manager's engine as `host` in [environments.NAME.runtime]",
                        ));
                    }
                    &swarm.host
                }
                // Pods are reached through the cluster's Services, never on a host port:
                // keyed by tenant, an instance's port collides with none.
                RuntimeConfig::Kubernetes(_) => inst.tenant.get_ref(),
                // A platform's instances are reached through it, never on a host port.
                RuntimeConfig::Http(_) => inst.tenant.get_ref(),
            };
            if *port.get_ref() != 0
                && let Some(other) = ports.insert((engine.clone(), *port.get_ref()), key.clone())
            {
                errors.push(fail(
                    port.span(),
                    format!("{key}.port"),
                    format!(
                        "port {} on {engine} is already used by {other}",
                        port.get_ref(),
                    ),
                    "give every instance on one Docker engine its own host port (containers and swarm services alike)",
                ));
            }
            // The key as written (`name`, or its former spelling `container`) and its
            // value's place, for errors.
            let name_place = || match (written("name"), written("container")) {
                (Some(span), _) => ("name", Some(span)),
                (None, Some(span)) => ("container", Some(span)),
                (None, None) => ("name", None),
            };
            let name = inst.workload_name(config.app.name.get_ref(), env_name);
            let (what, problem, rule) = match runtime {
                RuntimeConfig::Docker(_) => (
                    "container",
                    !is_container_name(&name),
                    "use letters, digits, `_`, `.` and `-`, starting with a letter or digit, at least 2 characters",
                ),
                RuntimeConfig::Kubernetes(k) => (
                    "deployment",
                    k.deployment.contains("{name}") && !crate::kubernetes::is_dns_label(&name),
                    "use lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters (a Kubernetes name)",
                ),
                RuntimeConfig::Swarm(_) => (
                    "service",
                    !is_service_name(&name),
                    "use letters, digits, `-` and `_`, starting and ending with a letter or digit, at most 63 characters",
                ),
                // The platform's own id (a Fly Machine id): any text the URL templates
                // percent-encode.
                RuntimeConfig::Http(_) => ("instance", name.trim().is_empty(), "give a name"),
            };
            let tenant_named = name_place().1.is_none();
            if tenant_named && !tenant_ok {
                continue;
            }
            if problem {
                let (field, span) = name_place();
                let help = if span.is_some() {
                    rule.to_string()
                } else {
                    format!(
                        "{rule}; the name defaults to `<app>-<environment>-<tenant>`: set `name` to choose another"
                    )
                };
                errors.push(fail(
                    span.unwrap_or_else(|| instance.span()),
                    format!("{key}.{field}"),
                    format!("`{name}` is not a valid {what} name"),
                    &help,
                ));
            } else if let Some(other) =
                names.insert((engine.clone(), what, name.clone()), key.clone())
            {
                let (field, span) = name_place();
                errors.push(fail(
                    span.unwrap_or_else(|| instance.span()),
                    format!("{key}.{field}"),
                    format!("{what} name `{name}` on {engine} is already used by {other}"),
                    &format!("give every instance on one Docker engine its own {what} name"),
                ));
            }
        }
        if let (Some(first), Some((_, kind, help))) =
            (env_ref.volumes.first(), cannot_mount.first())
        {
            let tenants: Vec<&str> = cannot_mount.iter().map(|(t, ..)| t.as_str()).collect();
            errors.push(fail(
                doc.span(&[
                    Seg::Key("environments"),
                    Seg::Key(env_name),
                    Seg::Key("volumes"),
                ])
                .unwrap_or_else(|| first.span()),
                format!("{env_key}.volumes"),
                format!(
                    "volumes are for the docker and swarm runtimes; {} of {env_name} run{} on kind \"{kind}\"",
                    tenants.join(", "),
                    if tenants.len() == 1 { "s" } else { "" }
                ),
                help,
            ));
        }
        if let Some(runtime) = runtime {
            runtimes.insert(env_name.clone(), (runtime, named));
        }
    }
    crate::secrets::validate_secrets(config, path, text, errors);
    crate::rollout::validate_rollouts(config, path, text, errors);
    crate::scan::validate_scan(&config.scan, path, text, errors);
    if let Err(e) = crate::release::validate_release(config, path, text) {
        errors.push(e);
    }
    crate::notify::collect_notify_errors(
        path,
        text,
        &config.notifiers,
        config
            .environments
            .iter()
            .map(|(name, env)| (name.as_str(), env.get_ref().notify.as_slice())),
        errors,
    );
    runtimes
}

/// Checks that the files a build reads exist: the build context, and the app and base
/// Dockerfiles (relative to the directory holding `hoist.toml`). Each missing one is
/// reported at its key, or at `[build]` when the key is defaulted.
pub(crate) fn validate_build_files(
    config: &Config,
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    let doc = Document::parse(text);
    let build_span = doc.span(&[Seg::Key("build")]).unwrap_or(0..0);
    let place = |field: &str| {
        doc.span(&[Seg::Key("build"), Seg::Key(field)])
            .map_or((build_span.clone(), false), |span| (span, true))
    };
    let context = config.context_dir();
    if !context.is_dir() {
        let (span, written) = place("context");
        errors.push(ConfigError::invalid(
            path,
            text,
            span,
            "build.context",
            format!(
                "the build context `{}` is not a directory",
                context.display()
            ),
            Some(if written {
                "write the directory relative to the one holding hoist.toml".to_string()
            } else {
                "set `context` to the app's directory, relative to the one holding hoist.toml"
                    .to_string()
            }),
        ));
    }
    for (field, file, what) in [
        (
            "dockerfile",
            &config.build.dockerfile,
            "the app image's Dockerfile",
        ),
        (
            "base_dockerfile",
            &config.build.base_dockerfile,
            "the dependency base image's Dockerfile",
        ),
    ] {
        let resolved = config.root.join(file);
        if resolved.is_file() {
            continue;
        }
        let (span, written) = place(field);
        let what_is = if resolved.exists() {
            "is not a file"
        } else {
            "does not exist"
        };
        let help = if written {
            "write the path relative to the directory holding hoist.toml, or create the file"
                .to_string()
        } else {
            format!(
                "create `{}` (the default name), or set `{field}` in [build] to the file you have; `hoist init` writes a starter for the detected stack",
                file.display()
            )
        };
        errors.push(ConfigError::invalid(
            path,
            text,
            span,
            format!("build.{field}"),
            format!("{what} `{}` {what_is}", resolved.display()),
            Some(help),
        ));
    }
}

/// The IP address `bind` names, or why it names none.
fn parse_bind(bind: &str) -> Result<std::net::IpAddr, String> {
    bind.parse().map_err(|_| {
        if bind.contains(':') && !bind.contains("::") && bind.matches(':').count() == 1 {
            format!("`{bind}` is not an IP address: write the address without a port (each instance has its own `port`)")
        } else {
            format!("`{bind}` is not an IP address")
        }
    })
}

/// Whether an engine address's host part (`HOST:PORT`) is this machine's loopback.
fn is_loopback_host(host_port: &str) -> bool {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why `timeout` cannot be a stop timeout, if it cannot.
fn stop_timeout_problem(timeout: std::time::Duration) -> Option<String> {
    let shown = humantime::format_duration(timeout);
    if timeout.subsec_nanos() != 0 {
        Some(format!(
            "`{shown}` is not whole seconds: the engine counts the stop timeout in seconds"
        ))
    } else if timeout > crate::schema::MAX_STOP_TIMEOUT {
        Some(format!(
            "`{shown}` is longer than an hour; a switch would wait that long for a stuck container"
        ))
    } else {
        None
    }
}

/// Why `path` cannot be an HTTP path probed on an instance, if it cannot.
fn url_path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        Some(format!("`{path}` is not an absolute URL path"))
    } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(format!(
            "`{path}` holds whitespace, which a URL path cannot"
        ))
    } else {
        None
    }
}

/// Defaulted values have an empty span; point at the enclosing table instead.
fn span_or<T, U>(value: &Spanned<T>, parent: &Spanned<U>) -> std::ops::Range<usize> {
    let span = value.span();
    if span.is_empty() { parent.span() } else { span }
}

/// Names that are safe in container names, labels and file names.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Names Docker accepts for containers (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn is_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Names Swarm accepts for services: a DNS label that may hold `_`
/// (`[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*`, at most 63 characters).
fn is_service_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    name.len() <= 63
        && edge(name.chars().next())
        && edge(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Why `image` is not a repository reference (Docker's grammar, simplified), if it is not.
fn image_repository_problem(image: &str) -> Option<&'static str> {
    if image.is_empty() {
        return Some("it is empty");
    }
    if image.contains('@') {
        return Some("it has a digest");
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        return Some("it has a tag (hoist tags releases itself)");
    }
    let path = image.split_once('/').map_or(image, |(first, rest)| {
        // A first component with `.` or `:` or `localhost` is a registry host.
        if first.contains('.') || first.contains(':') || first == "localhost" {
            rest
        } else {
            image
        }
    });
    let ok = path.split('/').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    });
    if ok {
        None
    } else {
        Some("repository names use lowercase letters, digits, `.`, `_`, `-` and `/`")
    }
}
