//! `volumes` on an environment and an instance: what each instance mounts, and every bad
//! entry refused at its place (`file:line:col`, the key, the entry) with what to write.

use std::path::Path;

use hoist_config::{ConfigError, Mount, MountSource, Settings, parse};

const BASE: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]
"#;

/// `BASE` with a staging environment: `env_keys` in its table, `runtime` (the lines of a
/// runtime table, if any), and instances north and south with their extra lines.
fn staging(env_keys: &str, runtime: &str, north: &str, south: &str) -> String {
    let runtime = if runtime.is_empty() {
        String::new()
    } else {
        format!("[environments.staging.runtime]\n{runtime}\n")
    };
    format!(
        "{BASE}\n[environments.staging]\n{env_keys}\n{runtime}\n\
         [[environments.staging.instances]]\ntenant = \"north\"\nport = 8101\n{north}\n\n\
         [[environments.staging.instances]]\ntenant = \"south\"\nport = 8102\n{south}\n"
    )
}

fn ok(text: &str) -> Settings {
    parse(Path::new("hoist.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every error of `text`, as one line each (`file:line:col: key: message`) and its help.
fn failures(text: &str) -> Vec<(String, String)> {
    let error = match parse(Path::new("hoist.toml"), text) {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(e) => e,
    };
    error
        .errors()
        .into_iter()
        .map(|e| match e {
            ConfigError::Invalid { help, .. } => (
                e.to_string().split(" (and ").next().unwrap().to_string(),
                help.clone().unwrap_or_default(),
            ),
            other => panic!("unexpected error {other:?}"),
        })
        .collect()
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in\n{text}"))
        + 1
}

fn shown(mounts: &[Mount]) -> Vec<String> {
    mounts.iter().map(ToString::to_string).collect()
}

#[test]
fn each_tenant_gets_the_environments_volumes_and_its_own() {
    let text = staging(
        r#"volumes = ["clinic-{tenant}-data:/data", "/srv/clinic/shared:/shared:ro"]"#,
        "",
        r#"volumes = ["/srv/clinic/north/data:/data", "north-uploads:/uploads:rw"]"#,
        "",
    );
    let config = ok(&text);
    let env = config.environment("staging").unwrap();
    assert_eq!(
        shown(&env.instances[0].volumes),
        [
            "/srv/clinic/north/data:/data",
            "/srv/clinic/shared:/shared:ro",
            "north-uploads:/uploads"
        ]
    );
    assert_eq!(
        shown(&env.instances[1].volumes),
        ["clinic-south-data:/data", "/srv/clinic/shared:/shared:ro"]
    );
    assert_eq!(
        env.instances[1].volumes[0],
        Mount {
            source: MountSource::Volume("clinic-south-data".into()),
            target: "/data".into(),
            read_only: false,
        }
    );
    assert_eq!(
        env.instances[1].volumes[1].source,
        MountSource::Bind("/srv/clinic/shared".into())
    );
}

#[test]
fn without_volumes_nothing_is_mounted() {
    let config = ok(&staging("", "", "", ""));
    assert!(
        config.environment("staging").unwrap().instances[0]
            .volumes
            .is_empty()
    );
}

#[test]
fn swarm_services_take_volumes() {
    let text = staging(
        r#"volumes = ["clinic-{tenant}-data:/data"]"#,
        "kind = \"swarm\"",
        "",
        "",
    );
    let config = ok(&text);
    assert_eq!(
        shown(&config.environment("staging").unwrap().instances[0].volumes),
        ["clinic-north-data:/data"]
    );
}

#[test]
fn every_bad_entry_is_refused_at_its_line_with_the_entry_and_what_to_write() {
    let cases = [
        ("data", "no container path is given", "SOURCE:TARGET"),
        ("a:/b:ro:x", "too many `:`", "SOURCE:TARGET"),
        ("data:/data:z", "`z` is not a mount option", ":ro"),
        (":/data", "the source is empty", "volume name"),
        ("./data:/data", "is a relative host path", "absolute path"),
        (
            "uploads/{tenant}:/data",
            "is a relative host path",
            "absolute path",
        ),
        (
            "-data:/data",
            "is not a valid volume name",
            "letters, digits",
        ),
        (
            "clinic-{app}:/data",
            "only `{tenant}` is replaced",
            "{tenant}",
        ),
        (
            "data:data",
            "is not absolute",
            "absolute path in the container",
        ),
        ("data:/", "root `/`", "absolute path in the container"),
        ("data:/srv/../etc", "climbs out with `..`", "absolute path"),
        (
            "data:/data/{tenant}",
            "in the source only",
            "same for every tenant",
        ),
    ];
    for (entry, message, help) in cases {
        // Once on the environment, once on an instance: each at its own key and line.
        for on_instance in [false, true] {
            let line = format!("volumes = [\"ok-{{tenant}}:/ok\", {entry:?}]");
            let text = if on_instance {
                staging("", "", "", &line)
            } else {
                staging(&line, "", "", "")
            };
            let all = failures(&text);
            assert_eq!(all.len(), 1, "{entry}: {all:?}");
            let (error, error_help) = &all[0];
            let key = if on_instance {
                "environments.staging.instances[1].volumes[1]"
            } else {
                "environments.staging.volumes[1]"
            };
            let place = format!("hoist.toml:{}:", line_of(&text, &line));
            assert!(error.starts_with(&place), "{entry}: {error} (want {place})");
            assert!(
                error.contains(&format!("{key}: `{entry}`: ")),
                "{entry}: {error}"
            );
            assert!(error.contains(message), "{entry}: {error}");
            assert!(error_help.contains(help), "{entry}: {error_help}");
        }
    }
}

#[test]
fn a_container_path_mounted_twice_in_one_list_is_refused_but_an_instance_may_replace_it() {
    let text = staging(r#"volumes = ["aa:/data", "bb:/data/"]"#, "", "", "");
    let all = failures(&text);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0]
            .0
            .contains("environments.staging.volumes[1]: `bb:/data/`: `/data` is mounted twice"),
        "{all:?}"
    );
    let replaced = staging(
        r#"volumes = ["aa:/data"]"#,
        "",
        r#"volumes = ["bb:/data"]"#,
        "",
    );
    assert_eq!(
        shown(&ok(&replaced).environment("staging").unwrap().instances[0].volumes),
        ["bb:/data"]
    );
}

#[test]
fn kubernetes_and_http_instances_cannot_take_volumes() {
    let kubernetes = staging(
        r#"volumes = ["clinic-{tenant}-data:/data"]"#,
        "kind = \"kubernetes\"",
        r#"volumes = ["/srv/north:/north"]"#,
        "",
    );
    let all = failures(&kubernetes);
    assert_eq!(all.len(), 2, "{all:?}");
    let env_line = line_of(&kubernetes, "clinic-{tenant}-data");
    let (env_error, env_help) = all
        .iter()
        .find(|(e, _)| e.contains("environments.staging.volumes:"))
        .expect("the environment's volumes are refused");
    assert!(
        env_error.starts_with(&format!("hoist.toml:{env_line}:")),
        "{env_error}"
    );
    assert!(
        env_error.contains(
            "volumes are for the docker and swarm runtimes; north, south of staging run on kind \"kubernetes\""
        ),
        "{env_error}"
    );
    assert!(
        env_help.contains("Deployment's volumes in its manifest"),
        "{env_help}"
    );
    let (instance_error, _) = all
        .iter()
        .find(|(e, _)| e.contains("instances[0].volumes:"))
        .expect("the instance's volumes are refused");
    assert!(
        instance_error.starts_with(&format!(
            "hoist.toml:{}:",
            line_of(&kubernetes, "/srv/north:/north")
        )),
        "{instance_error}"
    );
    assert!(instance_error.contains("north runs on kind \"kubernetes\""));

    // One instance of the environment on a hosting platform: the environment's volumes
    // cannot reach it.
    let mixed = format!(
        "{}\n[environments.staging.runtimes.fly]\nkind = \"http\"\npreset = \"fly-machines\"\ntoken = {{ env = \"FLY_API_TOKEN\" }}\n",
        staging(
            r#"volumes = ["clinic-{tenant}-data:/data"]"#,
            "",
            "",
            "runtime = \"fly\""
        )
    );
    let all = failures(&mixed);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0]
            .0
            .contains("environments.staging.volumes: volumes are for the docker and swarm runtimes; south of staging runs on kind \"http\""),
        "{all:?}"
    );
    assert!(all[0].1.contains("hosting platform"), "{}", all[0].1);
}
