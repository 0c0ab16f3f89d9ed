//! `[hosts.NAME]`: instances name a host or write its address, either way resolved to the
//! address; paths resolved against the config's directory; bad tables refused at their line.

use std::path::Path;

use hoist_config::{ConfigError, HostSettings, parse};

const BASE: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]
"#;

fn config(hosts: &str, instances: &str) -> String {
    format!("{BASE}\n{hosts}\n[environments.production]\n{instances}")
}

fn instance(tenant: &str, host: &str, port: u16) -> String {
    format!(
        "[[environments.production.instances]]\ntenant = \"{tenant}\"\nhost = \"{host}\"\nport = {port}\n"
    )
}

/// (line, key, message, help) of the first error.
fn failure(text: &str) -> (usize, String, String, String) {
    match parse(Path::new("/app/hoist.toml"), text) {
        Err(ConfigError::Invalid {
            line,
            key,
            message,
            help,
            ..
        }) => (line, key, message, help.unwrap_or_default()),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("no error for:\n{text}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap()
}

#[test]
fn instances_name_a_host_or_write_an_address_and_get_the_address() {
    let text = config(
        "[hosts.web1]\naddress = \"tcp://10.0.0.5:2376\"\ncert_path = \"certs/web1\"\n\
         [hosts.web2]\naddress = \"ssh://deploy@10.0.0.6:2222\"\nssh_config = \"/etc/hoist/ssh_config\"\n",
        &[
            instance("north", "web1", 8080),
            instance("south", "ssh://deploy@10.0.0.6:2222", 8080),
        ]
        .concat(),
    );
    let settings = parse(Path::new("/app/hoist.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let hosts: Vec<&str> = settings.environments["production"]
        .instances
        .iter()
        .map(|i| i.host.as_str())
        .collect();
    assert_eq!(hosts, ["tcp://10.0.0.5:2376", "ssh://deploy@10.0.0.6:2222"]);
    assert_eq!(
        settings.hosts["web1"],
        HostSettings {
            address: "tcp://10.0.0.5:2376".into(),
            cert_path: Some("/app/certs/web1".into()),
            ssh_config: None,
        }
    );
    assert_eq!(
        settings.hosts["web2"].ssh_config.as_deref(),
        Some(Path::new("/etc/hoist/ssh_config"))
    );
}

#[test]
fn a_name_and_its_address_are_one_engine_for_ports() {
    let text = config(
        "[hosts.web1]\naddress = \"tcp://10.0.0.5:2376\"\n",
        &[
            instance("north", "web1", 8080),
            instance("south", "tcp://10.0.0.5:2376", 8080),
        ]
        .concat(),
    );
    let (_, key, message, _) = failure(&text);
    assert_eq!(key, "environments.production.instances[1].port");
    assert!(message.contains("already used"), "{message}");
}

#[test]
fn an_unknown_host_name_says_what_would_do() {
    let text = config("", &instance("north", "web9", 8080));
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "host = \"web9\""));
    assert_eq!(key, "environments.production.instances[0].host");
    assert!(message.contains("nor a name of [hosts]"), "{message}");
    assert!(help.contains("ssh://"), "{help}");
}

#[test]
fn bad_tables_are_refused_at_their_line() {
    for (table, needle, key, says) in [
        (
            "[hosts.web1]\naddress = \"web1.example.com\"\n",
            "address =",
            "hosts.web1.address",
            "not a Docker engine address",
        ),
        (
            "[hosts.web1]\naddress = \"ssh://web1\"\ncert_path = \"certs\"\n",
            "cert_path",
            "hosts.web1.cert_path",
            "tcp:// engines only",
        ),
        (
            "[hosts.web1]\naddress = \"tcp://web1:2376\"\nssh_config = \"ssh_config\"\n",
            "ssh_config",
            "hosts.web1.ssh_config",
            "ssh:// engines only",
        ),
        (
            "[hosts.web1]\naddress = \"tcp://web1:2376\"\ncert_path = \"-----BEGIN CERTIFICATE-----\"\n",
            "cert_path",
            "hosts.web1.cert_path",
            "not its content",
        ),
        (
            "[hosts.a]\naddress = \"tcp://web1:2376\"\n[hosts.b]\naddress = \"tcp://web1:2376/\"\n",
            "tcp://web1:2376/",
            "hosts.b.address",
            "same address",
        ),
    ] {
        let text = config(
            table,
            &instance("north", "unix:///var/run/docker.sock", 8080),
        );
        let (line, got_key, message, _) = failure(&text);
        assert_eq!(got_key, key, "{table}");
        assert_eq!(line, line_of(&text, needle), "{table}");
        assert!(message.contains(says), "{table}: {message}");
    }
}

#[test]
fn unknown_keys_in_a_host_table_are_refused() {
    let text = config(
        "[hosts.web1]\naddress = \"tcp://web1:2376\"\nkey = \"...\"\n",
        &instance("north", "web1", 8080),
    );
    let err = parse(Path::new("/app/hoist.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("key"), "{err}");
}
