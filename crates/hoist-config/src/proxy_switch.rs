//! `[environments.NAME.runtime] switch = "proxy"`: the Docker runtime's zero-downtime switch
//! through a reverse proxy (Caddy, driven by its admin API).
//!
//! ```toml
//! [environments.production.runtime]
//! kind = "docker"
//! switch = "proxy"                 # default "port": the old container stops, the new one takes the port
//! proxy_admin = "127.0.0.1:2019"   # the Caddy admin API hoist drives (started by hoist when none answers)
//! drain_timeout = "30s"            # how long in-flight requests to the old container may take
//! ```
//!
//! These keys belong to kind "docker" only; `resolve` in [`crate::runtime`] refuses them for
//! the other kinds with [`first_proxy_key`].

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::runtime::RawRuntime;

/// How the Docker runtime moves an instance to a new container: the `switch` key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DockerSwitch {
    /// The old container stops and the new one starts on the instance's port: a gap of
    /// about one app start-up (the default, for setups without a proxy).
    #[default]
    Port,
    /// A reverse proxy holds the instance's port and is re-pointed at the new container;
    /// nothing is refused while it switches.
    Proxy(ProxySwitch),
}

/// `switch = "proxy"`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySwitch {
    /// Where Caddy's admin API answers (`proxy_admin`). Default [`DEFAULT_PROXY_ADMIN`].
    pub admin: SocketAddr,
    /// How long the old container's in-flight requests may take after the proxy switched
    /// (`drain_timeout`) before it is stopped anyway. Default [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
}

/// `proxy_admin` when not set: Caddy's own default admin address.
pub const DEFAULT_PROXY_ADMIN: &str = "127.0.0.1:2019";
/// `drain_timeout` when not set.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `drain_timeout` accepted: a deploy should not wait longer per instance.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(3600);

/// The value of `switch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SwitchKey {
    Port,
    Proxy,
}

/// The keys of the proxy switch, in the order the reference documents them.
pub(crate) const PROXY_KEYS: [&str; 3] = ["switch", "proxy_admin", "drain_timeout"];

fn given(raw: &RawRuntime) -> [Option<Range<usize>>; 3] {
    [
        raw.switch.as_ref().map(Spanned::span),
        raw.proxy_admin.as_ref().map(Spanned::span),
        raw.drain_timeout.as_ref().map(Spanned::span),
    ]
}

/// The first proxy-switch key written in the table, for kinds that take none.
pub(crate) fn first_proxy_key(raw: &RawRuntime) -> Option<(&'static str, Range<usize>)> {
    PROXY_KEYS
        .iter()
        .zip(given(raw))
        .filter_map(|(field, span)| span.map(|s| (*field, s)))
        .min_by_key(|(_, span)| span.start)
}

/// Reads kind "docker"'s `switch` keys. `fail` builds an error at a span for a key.
pub(crate) fn resolve(
    raw: &RawRuntime,
    fail: impl Fn(Range<usize>, &str, String, String) -> ConfigError,
) -> Result<DockerSwitch, ConfigError> {
    let proxy = raw
        .switch
        .as_ref()
        .is_some_and(|s| *s.get_ref() == SwitchKey::Proxy);
    if !proxy {
        if let Some((field, span)) = first_proxy_key(raw).filter(|(f, _)| *f != "switch") {
            return Err(fail(
                span,
                field,
                format!("`{field}` applies only to switch = \"proxy\""),
                "add switch = \"proxy\" to switch through the proxy, or remove the key".into(),
            ));
        }
        return Ok(DockerSwitch::Port);
    }
    let mut settings = ProxySwitch {
        admin: DEFAULT_PROXY_ADMIN
            .parse()
            .expect("a valid default address"),
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
    };
    if let Some(admin) = &raw.proxy_admin {
        settings.admin = admin.get_ref().parse().map_err(|_| {
            fail(
                admin.span(),
                "proxy_admin",
                format!("`{}` is not an IP address and port", admin.get_ref()),
                "write the address Caddy's admin API listens on, e.g. \"127.0.0.1:2019\"".into(),
            )
        })?;
    }
    if let Some(drain) = &raw.drain_timeout {
        let value = drain.get_ref().0;
        if value > MAX_DRAIN_TIMEOUT {
            return Err(fail(
                drain.span(),
                "drain_timeout",
                format!(
                    "a drain timeout of {} s is longer than an hour",
                    value.as_secs()
                ),
                "give at most \"1h\"; requests still running then are cut".into(),
            ));
        }
        settings.drain_timeout = value;
    }
    Ok(DockerSwitch::Proxy(settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeConfig;

    fn docker(table: &str) -> Result<RuntimeConfig, String> {
        let kind = if table.contains("kind") {
            ""
        } else {
            "kind = \"docker\"\n"
        };
        let table = format!("{kind}{table}");
        let text = format!(
            "[app]\nname = \"a\"\nimage = \"a\"\nport = 8080\n\n[build]\ndependencies = [\"requirements.txt\"]\n\n[environments.s]\n\n[environments.s.runtime]\n{table}\n\n[[environments.s.instances]]\ntenant = \"t\"\nport = 20401\n"
        );
        crate::parse(std::path::Path::new("hoist.toml"), &text)
            .map(|s| s.environments["s"].runtime.clone())
            .map_err(|e| e.to_string())
    }

    fn switch(config: RuntimeConfig) -> DockerSwitch {
        match config {
            RuntimeConfig::Docker(d) => d.switch,
            other => panic!("not docker: {other:?}"),
        }
    }

    #[test]
    fn the_port_switch_stays_the_default() {
        assert_eq!(
            switch(docker("kind = \"docker\"").unwrap()),
            DockerSwitch::Port
        );
    }

    #[test]
    fn switch_proxy_takes_defaults_and_settings() {
        assert_eq!(
            switch(docker("switch = \"proxy\"").unwrap()),
            DockerSwitch::Proxy(ProxySwitch {
                admin: "127.0.0.1:2019".parse().unwrap(),
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            })
        );
        assert_eq!(
            switch(
                docker(
                    "switch = \"proxy\"\nproxy_admin = \"127.0.0.1:20419\"\ndrain_timeout = \"5s\""
                )
                .unwrap()
            ),
            DockerSwitch::Proxy(ProxySwitch {
                admin: "127.0.0.1:20419".parse().unwrap(),
                drain_timeout: Duration::from_secs(5),
            })
        );
    }

    #[test]
    fn bad_proxy_keys_are_explained() {
        let e = docker("switch = \"proxy\"\nproxy_admin = \"localhost\"").unwrap_err();
        assert!(e.contains("is not an IP address and port"), "{e}");
        let e = docker("drain_timeout = \"5s\"").unwrap_err();
        assert!(
            e.contains("`drain_timeout` applies only to switch = \"proxy\""),
            "{e}"
        );
        let e = docker("kind = \"swarm\"\nswitch = \"proxy\"").unwrap_err();
        assert!(e.contains("does not apply to kind"), "{e}");
    }
}
