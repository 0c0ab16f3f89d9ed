//! Tenant secrets: values an instance gets in its environment that must never be written
//! into `hoist.toml` (a tenant's database password, an API key of a service it calls).
//!
//! A secret is named in the config by where its value comes from ([`SecretSource`]): an
//! environment variable of hoist's, a file (`/run/secrets/db`), or a command that prints it
//! (`op read op://...`, `vault kv get -field=password ...`, `aws secretsmanager
//! get-secret-value ...`), run without a shell and with a minimal environment. Sources are
//! read when a deploy needs them ([`Resolver`], behind the default `resolve` feature), never
//! when the config loads, so `plan` and `status` run no command.
//!
//! A read value is a [`Secret`]: its `Debug` and `Serialize` show only a short
//! [`fingerprint`], and it has no `Display`, so formatting it into a log line, an event or
//! an error cannot leak it; [`Secret::expose`] is the one way to the value, for the runtime
//! that hands it to the app.

mod secret;
mod source;

#[cfg(feature = "resolve")]
mod resolve;

pub use secret::{FINGERPRINT_LEN, Secret, Secrets, fingerprint};
pub use source::{
    DEFAULT_TIMEOUT, MAX_TIMEOUT, SecretSource, SecretTable, SourceProblem, is_env_name,
};

#[cfg(feature = "resolve")]
pub use resolve::{COMMAND_ENV, Resolver, SecretError, set_value_observer};
