//! `[environments.NAME.runtime]` and the instance's `name`: defaults, a full swarm table,
//! and every bad value rejected at its place with the key and what to write instead.

use std::num::NonZeroU64;
use std::path::Path;
use std::time::Duration;

use hoist_config::{
    ConfigError, DockerConfig, FailureAction, PublishMode, RuntimeConfig, RuntimeKind, Settings,
    SwarmConfig, UpdateConfig, UpdateOrder, parse,
};

const BASE: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 8101
"#;

/// `BASE` plus a production environment with `runtime` as its runtime table (the text
/// after the header) and one instance with `instance` as extra lines.
fn production(runtime: &str, instance: &str) -> String {
    format!(
        "{BASE}\n[environments.production.runtime]\n{runtime}\n[[environments.production.instances]]\ntenant = \"acme\"\nport = 8201\n{instance}"
    )
}

fn ok(text: &str) -> Settings {
    parse(Path::new("hoist.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn runtime(config: &Settings, env: &str) -> RuntimeConfig {
    config.environment(env).unwrap().runtime.clone()
}

fn swarm(config: &Settings, env: &str) -> SwarmConfig {
    match runtime(config, env) {
        RuntimeConfig::Swarm(s) => s,
        other => panic!("expected a swarm runtime, got {other:?}"),
    }
}

#[derive(Debug)]
struct Failure {
    line: usize,
    column: usize,
    key: String,
    message: String,
    help: String,
}

fn failure(text: &str) -> Failure {
    match parse(Path::new("hoist.toml"), text) {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(ConfigError::Invalid {
            line,
            column,
            key,
            message,
            help,
            ..
        }) => Failure {
            line,
            column,
            key,
            message,
            help: help.unwrap_or_default(),
        },
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// 1-based line and column of the first `needle` in `text`, at or after `from`'s first
/// occurrence.
fn at(text: &str, from: &str, needle: &str) -> (usize, usize) {
    let start = text.find(from).unwrap_or_else(|| panic!("no {from:?}"));
    let offset = start
        + text[start..]
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?}"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, column)
}

const RT: &str = "environments.production.runtime";

// ---- defaults ----

#[test]
fn no_runtime_table_means_docker_on_the_instance_host() {
    let config = ok(BASE);
    let staging = config.environment("staging").unwrap();
    assert_eq!(
        staging.runtime,
        RuntimeConfig::Docker(DockerConfig {
            stop_timeout: Duration::from_secs(10),
            bind: "0.0.0.0".parse().unwrap(),
            switch: hoist_config::DockerSwitch::Port,
        })
    );
    assert_eq!(staging.runtime.kind(), RuntimeKind::Docker);
    let acme = &staging.instances[0];
    assert_eq!(acme.host, "unix:///var/run/docker.sock");
    assert_eq!(acme.name, "clinic-staging-acme");
}

#[test]
fn kind_docker_is_the_default_written_out() {
    let config = ok(&production("kind = \"docker\"", ""));
    assert_eq!(
        runtime(&config, "production"),
        RuntimeConfig::Docker(DockerConfig::default())
    );
}

#[test]
fn kind_swarm_alone_takes_every_default() {
    let config = ok(&production("kind = \"swarm\"", ""));
    let s = swarm(&config, "production");
    assert_eq!(s, SwarmConfig::default());
    assert_eq!(s.host, "unix:///var/run/docker.sock");
    assert_eq!(s.replicas, NonZeroU64::MIN);
    assert_eq!(s.publish, PublishMode::Host);
    assert_eq!(
        s.update,
        UpdateConfig {
            parallelism: 1,
            delay: Duration::ZERO,
            order: UpdateOrder::StopFirst,
            monitor: Duration::from_secs(5),
            failure_action: FailureAction::Rollback,
        }
    );
    // The staging environment, without a table, stays on Docker.
    assert_eq!(runtime(&config, "staging").kind(), RuntimeKind::Docker);
}

#[test]
fn a_full_swarm_table_parses_into_its_values() {
    let text = production(
        r#"kind = "swarm"
host = "tcp://10.0.0.5:2375"
replicas = 3
publish = "ingress"
[environments.production.runtime.update]
parallelism = 0
delay = "10s"
order = "start-first"
monitor = "1m 30s"
failure_action = "pause""#,
        "",
    );
    let config = ok(&text);
    assert_eq!(
        swarm(&config, "production"),
        SwarmConfig {
            host: "tcp://10.0.0.5:2375".into(),
            replicas: NonZeroU64::new(3).unwrap(),
            publish: PublishMode::Ingress,
            update: UpdateConfig {
                parallelism: 0,
                delay: Duration::from_secs(10),
                order: UpdateOrder::StartFirst,
                monitor: Duration::from_secs(90),
                failure_action: FailureAction::Pause,
            },
        }
    );
}

#[test]
fn an_inline_runtime_table_works_too() {
    let text = BASE.replace(
        "[environments.staging]\n",
        "[environments.staging]\nruntime = { kind = \"swarm\", update = { failure_action = \"continue\" } }\n",
    );
    let s = swarm(&ok(&text), "staging");
    assert_eq!(s.update.failure_action, FailureAction::Continue);
}

#[test]
fn enum_values_keep_the_engine_api_spelling() {
    assert_eq!(UpdateOrder::StartFirst.as_str(), "start-first");
    assert_eq!(UpdateOrder::StopFirst.as_str(), "stop-first");
    assert_eq!(FailureAction::Rollback.as_str(), "rollback");
    assert_eq!(PublishMode::Ingress.as_str(), "ingress");
    assert_eq!(
        RuntimeKind::ALL.map(RuntimeKind::as_str),
        ["docker", "swarm", "kubernetes", "http"]
    );
}

// ---- the instance's name ----

#[test]
fn name_sets_the_workload_name_and_container_still_works() {
    let text = format!(
        "{BASE}name = \"acme-web\"\n\n[environments.production]\n[[environments.production.instances]]\ntenant = \"acme\"\nport = 8201\ncontainer = \"legacy-acme\"\n"
    );
    let config = ok(&text);
    let staging = &config.environment("staging").unwrap().instances[0];
    assert_eq!(staging.name, "acme-web");
    let prod = &config.environment("production").unwrap().instances[0];
    assert_eq!(prod.name, "legacy-acme");
}

#[test]
fn name_and_container_together_are_rejected() {
    let text = format!("{BASE}name = \"a1\"\ncontainer = \"a2\"\n");
    let f = failure(&text);
    assert!(f.message.contains("duplicate field `name`"), "{f:?}");
    assert!(
        f.key.starts_with("environments.staging.instances[0]"),
        "{f:?}"
    );
    assert!(f.help.contains("former spelling"), "{f:?}");
}

#[test]
fn a_container_name_docker_refuses_is_rejected_at_the_name() {
    let text = format!("{BASE}name = \"-acme\"\n");
    let f = failure(&text);
    assert_eq!(f.key, "environments.staging.instances[0].name");
    assert_eq!((f.line, f.column), at(&text, "name = \"-acme", "\"-acme"));
    assert!(f.message.contains("not a valid container name"), "{f:?}");
    assert!(f.help.contains("starting with a letter or digit"), "{f:?}");
}

#[test]
fn a_service_name_swarm_refuses_is_rejected() {
    // Dots are fine in a container name but not in a service name.
    let text = production("kind = \"swarm\"", "name = \"acme.web\"\n");
    let f = failure(&text);
    assert_eq!(f.key, "environments.production.instances[0].name");
    assert_eq!(
        (f.line, f.column),
        at(&text, "name = \"acme.web", "\"acme.web")
    );
    assert!(f.message.contains("not a valid service name"), "{f:?}");
    assert!(f.help.contains("63 characters"), "{f:?}");
    ok(&format!("{BASE}name = \"acme.web\"\n"));
}

#[test]
fn a_defaulted_service_name_that_is_too_long_says_to_set_name() {
    let tenant = "t".repeat(60);
    let text = production("kind = \"swarm\"", "").replace(
        "tenant = \"acme\"\nport = 8201",
        &format!("tenant = \"{tenant}\"\nport = 8201"),
    );
    let f = failure(&text);
    assert_eq!(f.key, "environments.production.instances[0].name");
    assert!(f.help.contains("set `name`"), "{f:?}");
}

#[test]
fn the_former_key_is_named_in_a_name_clash() {
    let text = format!(
        "{BASE}container = \"shared\"\n[[environments.staging.instances]]\ntenant = \"beta\"\nport = 8102\ncontainer = \"shared\"\n"
    );
    let f = failure(&text);
    assert_eq!(f.key, "environments.staging.instances[1].container");
    assert!(
        f.message
            .contains("container name `shared` on unix:///var/run/docker.sock is already used by environments.staging.instances[0]"),
        "{f:?}"
    );
}

#[test]
fn two_services_on_one_swarm_cannot_share_a_name_but_a_container_may() {
    let two = format!(
        "{}\n[environments.preview.runtime]\nkind = \"swarm\"\n[[environments.preview.instances]]\ntenant = \"acme\"\nport = 8301\nname = \"shared\"\n",
        production("kind = \"swarm\"", "name = \"shared\"\n")
    );
    let f = failure(&two);
    assert_eq!(f.key, "environments.production.instances[0].name");
    assert!(f.message.contains("service name `shared`"), "{f:?}");

    // A container and a service of the same name live side by side on one engine.
    let mixed = format!(
        "{BASE}name = \"shared\"\n{}",
        production("kind = \"swarm\"", "name = \"shared\"\n").replace(BASE, "")
    );
    ok(&mixed);
}

// ---- ports ----

#[test]
fn a_swarm_service_and_a_container_on_one_engine_cannot_share_a_port() {
    let text = production("kind = \"swarm\"", "").replace("port = 8201", "port = 8101");
    let f = failure(&text);
    assert_eq!(f.key, "environments.staging.instances[0].port");
    assert!(
        f.message
            .contains("port 8101 on unix:///var/run/docker.sock is already used by environments.production.instances[0]"),
        "{f:?}"
    );
}

#[test]
fn a_service_on_another_swarm_may_use_the_same_port() {
    let text = production("kind = \"swarm\"\nhost = \"tcp://10.0.0.5:2375\"", "")
        .replace("port = 8201", "port = 8101");
    ok(&text);
}

#[test]
fn an_instance_host_in_a_swarm_environment_is_rejected() {
    let text = production("kind = \"swarm\"", "host = \"tcp://10.0.0.9:2375\"\n");
    let f = failure(&text);
    assert_eq!(f.key, "environments.production.instances[0].host");
    assert_eq!(
        (f.line, f.column),
        at(&text, "host = \"tcp://10.0.0.9", "\"tcp")
    );
    assert!(f.help.contains("[environments.NAME.runtime]"), "{f:?}");
}

// ---- bad values ----

#[test]
fn an_unknown_kind_lists_the_valid_kinds() {
    let text = production("kind = \"nomad\"", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.kind"));
    assert_eq!((f.line, f.column), at(&text, "kind = \"nomad", "\"nomad"));
    assert!(f.message.contains("unknown variant `nomad`"), "{f:?}");
    assert!(
        f.message.contains("`docker`")
            && f.message.contains("`swarm`")
            && f.message.contains("`kubernetes`"),
        "{f:?}"
    );
    assert!(f.help.contains("one of the values listed"), "{f:?}");
}

#[test]
fn a_missing_kind_is_named() {
    let text = production("replicas = 1", "");
    let f = failure(&text);
    assert_eq!(f.key, RT);
    assert!(f.message.contains("missing field `kind`"), "{f:?}");
    assert!(f.help.contains("add the key"), "{f:?}");
}

#[test]
fn an_unknown_runtime_key_lists_the_valid_keys() {
    let text = production("kind = \"swarm\"\nreplica = 2", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.replica"));
    assert_eq!((f.line, f.column), at(&text, "replica = 2", "replica"));
    assert!(f.message.contains("unknown field `replica`"), "{f:?}");
    for key in ["kind", "host", "replicas", "publish", "update"] {
        assert!(f.message.contains(&format!("`{key}`")), "{key}: {f:?}");
    }
    assert!(
        f.help.contains("remove the key or fix its spelling"),
        "{f:?}"
    );
}

#[test]
fn an_unknown_update_key_lists_the_valid_keys() {
    let text = production(
        "kind = \"swarm\"\n[environments.production.runtime.update]\nparalellism = 2",
        "",
    );
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.paralellism"));
    assert_eq!((f.line, f.column), at(&text, "paralellism", "paralellism"));
    for key in ["parallelism", "delay", "order", "monitor", "failure_action"] {
        assert!(f.message.contains(&format!("`{key}`")), "{key}: {f:?}");
    }
}

#[test]
fn a_swarm_key_under_kind_docker_is_rejected_at_the_key() {
    let text = production("kind = \"docker\"\nreplicas = 2", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.replicas"));
    assert_eq!((f.line, f.column), at(&text, "replicas = 2", "2"));
    assert!(
        f.message.contains("does not apply to kind \"docker\""),
        "{f:?}"
    );
    assert!(f.help.contains("keys of kind \"swarm\""), "{f:?}");
}

#[test]
fn under_kind_docker_the_first_swarm_key_in_the_file_is_named() {
    // `publish` comes before `host` in the file, after it in the alphabet.
    let text = production(
        "publish = \"host\"\nkind = \"docker\"\nhost = \"tcp://h:2375\"",
        "",
    );
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.publish"));
    assert_eq!(
        (f.line, f.column),
        at(&text, "publish = \"host\"", "\"host\"")
    );
}

#[test]
fn a_bad_duration_says_how_to_write_one() {
    let text = production(
        "kind = \"swarm\"\n[environments.production.runtime.update]\ndelay = \"soon\"",
        "",
    );
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.delay"));
    assert_eq!((f.line, f.column), at(&text, "delay = \"soon", "\"soon"));
    assert!(f.message.contains("`soon` is not a duration"), "{f:?}");
    assert!(f.message.contains("\"30s\""), "{f:?}");
    assert!(f.help.contains("a number and a unit"), "{f:?}");
}

#[test]
fn a_duration_that_is_not_a_string_is_a_type_error() {
    let text = production("kind = \"swarm\"\nupdate = { monitor = 5 }", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.monitor"));
    assert_eq!((f.line, f.column), at(&text, "monitor = 5", "5"));
    assert!(f.message.contains("invalid type"), "{f:?}");
}

#[test]
fn a_zero_monitor_is_rejected() {
    let text = production("kind = \"swarm\"\nupdate = { monitor = \"0s\" }", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.monitor"));
    assert_eq!((f.line, f.column), at(&text, "monitor = \"0s", "\"0s"));
    assert!(f.help.contains("e.g. \"5s\""), "{f:?}");
}

#[test]
fn zero_replicas_are_rejected() {
    let text = production("kind = \"swarm\"\nreplicas = 0", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.replicas"));
    assert_eq!((f.line, f.column), at(&text, "replicas = 0", "0"));
    assert!(f.message.contains("no task"), "{f:?}");
    assert!(f.help.contains("1 or more"), "{f:?}");
}

#[test]
fn negative_replicas_are_rejected() {
    let text = production("kind = \"swarm\"\nreplicas = -1", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.replicas"));
    assert_eq!((f.line, f.column), at(&text, "replicas = -1", "-1"));
    assert!(f.message.contains("invalid value"), "{f:?}");
    assert!(!f.help.is_empty());
}

#[test]
fn a_bad_order_lists_the_valid_orders() {
    let text = production("kind = \"swarm\"\nupdate = { order = \"sideways\" }", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.order"));
    assert_eq!(
        (f.line, f.column),
        at(&text, "order = \"sideways", "\"sideways")
    );
    assert!(
        f.message.contains("`stop-first`") && f.message.contains("`start-first`"),
        "{f:?}"
    );
    assert!(f.help.contains("one of the values listed"), "{f:?}");
}

#[test]
fn a_bad_failure_action_lists_the_valid_actions() {
    let text = production(
        "kind = \"swarm\"\n[environments.production.runtime.update]\nfailure_action = \"retry\"",
        "",
    );
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.failure_action"));
    assert_eq!(
        (f.line, f.column),
        at(&text, "failure_action = \"retry", "\"retry")
    );
    for action in ["rollback", "pause", "continue"] {
        assert!(
            f.message.contains(&format!("`{action}`")),
            "{action}: {f:?}"
        );
    }
    assert!(f.help.contains("one of the values listed"), "{f:?}");
}

#[test]
fn a_bad_publish_mode_lists_the_valid_modes() {
    let text = production("kind = \"swarm\"\npublish = \"mesh\"", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.publish"));
    assert_eq!((f.line, f.column), at(&text, "publish = \"mesh", "\"mesh"));
    assert!(
        f.message.contains("`host`") && f.message.contains("`ingress`"),
        "{f:?}"
    );
    assert!(f.help.contains("one of the values listed"), "{f:?}");
}

#[test]
fn a_bad_swarm_host_is_rejected() {
    let text = production("kind = \"swarm\"\nhost = \"/var/run/docker.sock\"", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.host"));
    assert_eq!((f.line, f.column), at(&text, "host = \"/var", "\"/var"));
    assert!(f.message.contains("not a Docker engine address"), "{f:?}");
    assert!(f.help.contains("unix:///var/run/docker.sock"), "{f:?}");
}

// ---- host-mode publishing holds one task per node ----

#[test]
fn start_first_with_host_publishing_is_rejected_with_a_hint() {
    let text = production("kind = \"swarm\"\nupdate = { order = \"start-first\" }", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.update.order"));
    assert_eq!((f.line, f.column), at(&text, "order = \"start", "\"start"));
    assert!(
        f.message.contains("publish = \"host\" (the default)"),
        "{f:?}"
    );
    assert!(
        f.help.contains("stop-first") && f.help.contains("ingress"),
        "{f:?}"
    );
}

#[test]
fn several_replicas_with_host_publishing_are_rejected_with_a_hint() {
    let text = production("kind = \"swarm\"\npublish = \"host\"\nreplicas = 2", "");
    let f = failure(&text);
    assert_eq!(f.key, format!("{RT}.replicas"));
    assert_eq!((f.line, f.column), at(&text, "replicas = 2", "2"));
    assert!(f.message.contains("with publish = \"host\","), "{f:?}");
    assert!(f.help.contains("replicas = 1"), "{f:?}");
}

#[test]
fn the_routing_mesh_takes_start_first_and_several_replicas() {
    let text = production(
        "kind = \"swarm\"\npublish = \"ingress\"\nreplicas = 2\nupdate = { order = \"start-first\" }",
        "",
    );
    let s = swarm(&ok(&text), "production");
    assert_eq!(s.replicas.get(), 2);
    assert_eq!(s.update.order, UpdateOrder::StartFirst);
}

#[test]
fn display_is_one_line_with_file_line_column() {
    let text = production("kind = \"swarm\"\nreplicas = 0", "");
    let (line, column) = at(&text, "replicas = 0", "0");
    let err = parse(Path::new("conf/hoist.toml"), &text).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conf/hoist.toml:{line}:{column}: environments.production.runtime.replicas: replicas 0 would run no task of the service"
        )
    );
}

// ---- the Docker runtime's settings ----

#[test]
fn stop_timeout_defaults_to_10s_and_reaches_the_docker_runtime() {
    let config = ok(BASE);
    let staging = config.environment("staging").unwrap();
    assert_eq!(staging.rollout.stop_timeout, Duration::from_secs(10));

    let text = BASE.replace(
        "[environments.staging]\n",
        "[environments.staging]\nrollout = { stop_timeout = \"3s\" }\n",
    );
    let config = ok(&text);
    let staging = config.environment("staging").unwrap();
    assert_eq!(staging.rollout.stop_timeout, Duration::from_secs(3));
    match &staging.runtime {
        RuntimeConfig::Docker(docker) => assert_eq!(docker.stop_timeout, Duration::from_secs(3)),
        other => panic!("{other:?}"),
    }
    // "0s": kill at once, knowingly.
    ok(&BASE.replace(
        "[environments.staging]\n",
        "[environments.staging]\nrollout = { stop_timeout = \"0s\" }\n",
    ));
}

#[test]
fn stop_timeout_must_be_whole_seconds_and_at_most_an_hour() {
    for (value, says) in [
        ("1500ms", "not whole seconds"),
        ("2h", "longer than an hour"),
    ] {
        let text = BASE.replace(
            "[environments.staging]\n",
            &format!("[environments.staging]\nrollout = {{ stop_timeout = \"{value}\" }}\n"),
        );
        let f = failure(&text);
        assert_eq!(f.key, "environments.staging.rollout.stop_timeout");
        assert_eq!((f.line, f.column), at(&text, "stop_timeout", "\""), "{f:?}");
        assert!(f.message.contains(says), "{f:?}");
        assert!(f.help.contains("whole seconds"), "{f:?}");
    }
    let f = failure(&BASE.replace(
        "[environments.staging]\n",
        "[environments.staging]\nrollout = { stop_timeout = \"soon\" }\n",
    ));
    assert!(f.message.contains("is not a duration"), "{f:?}");
}

fn docker(config: &Settings, env: &str) -> DockerConfig {
    match runtime(config, env) {
        RuntimeConfig::Docker(d) => d,
        other => panic!("expected a docker runtime, got {other:?}"),
    }
}

fn with_staging_key(line: &str) -> String {
    BASE.replace(
        "[environments.staging]\n",
        &format!("[environments.staging]\n{line}\n"),
    )
}

#[test]
fn bind_is_an_ip_address_given_to_the_docker_runtime() {
    assert_eq!(docker(&ok(BASE), "staging").bind.to_string(), "0.0.0.0");
    for ip in ["127.0.0.1", "10.0.0.5", "::1", "0.0.0.0"] {
        let config = ok(&with_staging_key(&format!("bind = \"{ip}\"")));
        assert_eq!(docker(&config, "staging").bind.to_string(), ip);
    }
}

#[test]
fn a_bind_that_is_not_an_ip_address_is_refused_at_its_value() {
    for (value, says) in [
        ("localhost", "`localhost` is not an IP address"),
        ("127.0.0.1:8080", "without a port"),
        ("10.0.0", "`10.0.0` is not an IP address"),
    ] {
        let text = with_staging_key(&format!("bind = \"{value}\""));
        let f = failure(&text);
        assert_eq!(f.key, "environments.staging.bind", "{f:?}");
        assert_eq!((f.line, f.column), at(&text, "bind", "\""), "{f:?}");
        assert!(f.message.contains(says), "{f:?}");
        assert!(f.help.contains("127.0.0.1"), "{f:?}");
    }
}

#[test]
fn bind_does_not_apply_to_swarm() {
    let text = format!(
        "{BASE}\n[environments.production]\nbind = \"127.0.0.1\"\n[environments.production.runtime]\nkind = \"swarm\"\n[[environments.production.instances]]\ntenant = \"acme\"\nport = 8201\n"
    );
    let f = failure(&text);
    assert_eq!(f.key, "environments.production.bind");
    assert!(f.message.contains("does not apply"), "{f:?}");
}

#[test]
fn a_loopback_bind_on_a_remote_engine_could_not_be_probed() {
    let text = with_staging_key("bind = \"127.0.0.1\"")
        .replace("port = 8101", "port = 8101\nhost = \"tcp://10.1.2.3:2375\"");
    let f = failure(&text);
    assert_eq!(f.key, "environments.staging.bind");
    assert!(f.message.contains("cannot probe"), "{f:?}");
    // A loopback engine address is this machine.
    ok(&with_staging_key("bind = \"127.0.0.1\"").replace(
        "port = 8101",
        "port = 8101\nhost = \"tcp://127.0.0.1:2375\"",
    ));
}

#[test]
fn the_clinic_example_publishes_on_loopback_behind_its_proxy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/hoist.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    for env in ["staging", "production"] {
        assert_eq!(docker(&config, env).bind.to_string(), "127.0.0.1", "{env}");
    }
}
