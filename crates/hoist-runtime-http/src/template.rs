//! Rendering request templates with minijinja.
//!
//! A body template is JSON with `{{ ... }}` holes, and every value written into a hole is
//! written *as JSON* (a string gets its quotes and escapes, an object stays an object), so
//! a tenant or version can never break the body's syntax. A URL template writes each value
//! percent-encoded, so a value cannot add a path segment or a query.
//!
//! The variables: `app`, `environment`, `tenant`, `name` (the instance's workload name),
//! `platform_app`, `image` (`repository:tag`), `digest` (or none), `image_ref` (the image
//! with its digest when it has one: what the platform should run), `version`, `image_id`,
//! `spec` (hoist's record of the instance's settings), and `current`, the instance's status answer before the change (or none), so that a
//! platform whose update replaces a whole object can be sent that object with the image
//! changed: `{{ current.config | merge({"image": image_ref}) }}`.
//!
//! A release task's requests also see `task_name`, `task_command` (the argv, a JSON array
//! in a body), `wait_seconds` (the time left for the task, at most 50), after the start
//! `task_id` and `task_instance`, and in a body only `env`: the instance's env and secrets
//! as one object. Secrets never go in a URL, so a URL (or a hint) has no `env`.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// What the templates see for one instance and release.
#[derive(Debug, Clone)]
pub struct Vars {
    pub app: String,
    pub environment: String,
    pub tenant: String,
    pub name: String,
    pub platform_app: String,
    pub image: String,
    pub digest: Option<String>,
    pub version: String,
    pub image_id: String,
    /// The instance's spec digest as hoist records it (`dev.hoist.spec`'s text), for a
    /// platform that keeps metadata: read back through `fields.spec`.
    pub spec: String,
    pub current: Option<serde_json::Value>,
    /// A release task's variables; `None` outside a task's requests.
    pub task: Option<TaskVars>,
}

/// What a release task's requests see besides the instance's variables.
#[derive(Clone)]
pub struct TaskVars {
    pub name: String,
    pub command: Vec<String>,
    /// The run's id and version, from the start answer; `None` before it.
    pub id: Option<String>,
    pub instance: Option<String>,
    /// Seconds the task has left, at most 50 (one request stays under the client's timeout).
    pub wait_seconds: u64,
    /// The instance's env and secret values: only ever written into a body.
    pub env: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for TaskVars {
    /// Without `env`: it holds secret values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskVars")
            .field("name", &self.name)
            .field("command", &self.command)
            .field("id", &self.id)
            .field("instance", &self.instance)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vars {
    /// The reference the platform is asked to run: `repo:tag@sha256:…` once the release
    /// has a registry digest, else `repo:tag`.
    pub fn image_ref(&self) -> String {
        match &self.digest {
            Some(digest) if !self.image.contains('@') => format!("{}@{digest}", self.image),
            _ => self.image.clone(),
        }
    }

    /// The variables; `env` only when `secrets` (a body).
    fn context(&self, secrets: bool) -> Value {
        let mut context = serde_json::json!({
            "app": self.app,
            "environment": self.environment,
            "tenant": self.tenant,
            "name": self.name,
            "platform_app": self.platform_app,
            "image": self.image,
            "digest": self.digest,
            "image_ref": self.image_ref(),
            "version": self.version,
            "image_id": self.image_id,
            "spec": self.spec,
            "current": self.current,
        });
        if let (Some(task), Some(map)) = (&self.task, context.as_object_mut()) {
            map.insert("task_name".into(), task.name.clone().into());
            map.insert("task_command".into(), task.command.clone().into());
            map.insert("task_id".into(), task.id.clone().into());
            map.insert("task_instance".into(), task.instance.clone().into());
            map.insert("wait_seconds".into(), task.wait_seconds.into());
            if secrets {
                map.insert("env".into(), task.env.clone().into());
            }
        }
        Value::from_serialize(context)
    }
}

/// Why a template did not render: minijinja's reason, with the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} template: {reason}")]
pub struct TemplateError {
    pub what: &'static str,
    pub reason: String,
}

/// Renders a URL template; values are percent-encoded.
pub fn render_url(template: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut env = base_env();
    env.set_formatter(|out, _state, value| {
        let text = if value.is_undefined() || value.is_none() {
            String::new()
        } else {
            value.to_string()
        };
        out.write_str(&percent_encode(&text))
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
    });
    render(&env, template, vars, "url", false)
}

/// Renders a line of text for people (a hint): values as they are, no `env`.
pub fn render_text(template: &str, vars: &Vars) -> Result<String, TemplateError> {
    render(&base_env(), template, vars, "text", false)
}

/// Renders a JSON body template and checks that the result is JSON.
pub fn render_body(template: &str, vars: &Vars) -> Result<serde_json::Value, TemplateError> {
    let mut env = base_env();
    env.set_formatter(|out, _state, value| {
        let json = to_json(value)?;
        out.write_str(&json.to_string())
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
    });
    let text = render(&env, template, vars, "body", true)?;
    serde_json::from_str(&text).map_err(|e| TemplateError {
        what: "body",
        reason: format!("the rendered body is not JSON ({e})"),
    })
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable is an error, not an empty string sent to a platform.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("merge", merge_filter);
    env
}

fn render(
    env: &Environment<'_>,
    template: &str,
    vars: &Vars,
    what: &'static str,
    secrets: bool,
) -> Result<String, TemplateError> {
    env.render_str(template, vars.context(secrets))
        .map_err(|e| TemplateError {
            what,
            reason: describe(&e),
        })
}

/// `{{ object | merge(changes) }}`: `object` with `changes` merged in, key by key, nested
/// objects merged the same way.
fn merge_filter(base: Value, changes: Value) -> Result<Value, Error> {
    let mut base = to_json(&base)?;
    let changes = to_json(&changes)?;
    if !base.is_object() || !changes.is_object() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "merge takes two objects",
        ));
    }
    merge(&mut base, changes);
    Ok(Value::from_serialize(base))
}

fn merge(base: &mut serde_json::Value, changes: serde_json::Value) {
    match (base, changes) {
        (serde_json::Value::Object(base), serde_json::Value::Object(changes)) => {
            for (key, value) in changes {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, changes) => *base = changes,
    }
}

fn to_json(value: &Value) -> Result<serde_json::Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    serde_json::to_value(value).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// minijinja's message plus the line, without its multi-line debug dump.
fn describe(error: &Error) -> String {
    let mut text = error.kind().to_string();
    if let Some(detail) = error.detail() {
        text = format!("{text}: {detail}");
    }
    if let Some(line) = error.line() {
        text = format!("{text} (line {line})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            app: "clinic".into(),
            environment: "production".into(),
            tenant: "north \"side\"".into(),
            name: "m/1".into(),
            platform_app: "clinic-north".into(),
            image: "registry.example/clinic:v2".into(),
            digest: Some("sha256:abc".into()),
            version: "v2".into(),
            image_id: "sha256:def".into(),
            spec: "{}".into(),
            current: Some(serde_json::json!({"config": {"image": "old", "env": {"A": "1"}}})),
            task: None,
        }
    }

    fn task_vars() -> Vars {
        let mut env = serde_json::Map::new();
        env.insert("A".into(), "2".into());
        env.insert("DB_PASSWORD".into(), "s3cret \"quoted\"".into());
        Vars {
            task: Some(TaskVars {
                name: "migrate".into(),
                command: vec!["sh".into(), "-c".into(), "echo \"$A\"; exit 3".into()],
                id: Some("m 1".into()),
                instance: None,
                wait_seconds: 60,
                env,
            }),
            ..vars()
        }
    }

    #[test]
    fn a_task_body_gets_the_command_as_an_array_and_the_env_merged() {
        let body = render_body(
            r#"{"name": {{ task_name }}, "config": {"image": {{ image_ref }}, "init": {"cmd": {{ task_command }}}, "env": {{ (current.config.env | default({})) | merge(env) }}, "instance": {{ task_instance }}}}"#,
            &task_vars(),
        )
        .unwrap();
        assert_eq!(body["name"], "migrate");
        assert_eq!(
            body["config"]["init"]["cmd"],
            serde_json::json!(["sh", "-c", "echo \"$A\"; exit 3"])
        );
        // The instance's env wins over the platform's, and a quote stays inside its string.
        assert_eq!(body["config"]["env"]["A"], "2");
        assert_eq!(body["config"]["env"]["DB_PASSWORD"], "s3cret \"quoted\"");
        assert!(body["config"]["instance"].is_null());
    }

    #[test]
    fn a_task_url_has_its_id_and_never_the_env() {
        let url = render_url(
            "https://x/apps/{{ platform_app }}/machines/{{ task_id }}/wait?timeout={{ wait_seconds }}",
            &task_vars(),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://x/apps/clinic-north/machines/m%201/wait?timeout=60"
        );
        let err = render_url("https://x/?p={{ env.DB_PASSWORD }}", &task_vars()).unwrap_err();
        assert!(err.reason.contains("undefined"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        // Outside a task, its variables do not exist.
        assert!(render_url("https://x/{{ task_id }}", &vars()).is_err());
    }

    #[test]
    fn body_values_are_written_as_json() {
        let body = render_body(
            r#"{"tenant": {{ tenant }}, "image": {{ image_ref }}, "config": {{ current.config | merge({"image": image_ref}) }}}"#,
            &vars(),
        )
        .unwrap();
        assert_eq!(body["tenant"], "north \"side\"");
        assert_eq!(body["image"], "registry.example/clinic:v2@sha256:abc");
        assert_eq!(
            body["config"]["image"],
            "registry.example/clinic:v2@sha256:abc"
        );
        assert_eq!(body["config"]["env"]["A"], "1");
    }

    #[test]
    fn url_values_are_percent_encoded() {
        let url = render_url(
            "https://api.example/apps/{{ platform_app }}/m/{{ name }}",
            &vars(),
        )
        .unwrap();
        assert_eq!(url, "https://api.example/apps/clinic-north/m/m%2F1");
    }

    #[test]
    fn an_unknown_variable_is_an_error() {
        let err = render_url("https://x/{{ machine }}", &vars()).unwrap_err();
        assert!(err.reason.contains("undefined"), "{err}");
        let err = render_body("{\"a\": {{ image }", &vars()).unwrap_err();
        assert_eq!(err.what, "body");
    }
}
