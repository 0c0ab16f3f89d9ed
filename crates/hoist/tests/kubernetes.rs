//! The Kubernetes runtime through the CLI, against the FAKE Kubernetes API server of
//! hoist-runtime-k8s's tests (no real API server runs on this machine; see
//! docs/kubernetes.md). hoist builds the image on the real Docker engine, then patches the
//! fake's Deployments, reached through a kubeconfig named by `KUBECONFIG`. Ports
//! 20500-20549, names `hoist-k8s-*`.

mod support;

#[path = "../../hoist-runtime-k8s/tests/common/fake_apiserver.rs"]
#[allow(dead_code)]
mod fake_apiserver;

use fake_apiserver::{FakeApiServer, Scenario};
use support::App;

const TENANTS: [&str; 2] = ["north", "south"];

fn image(fake: &FakeApiServer, tenant: &str) -> String {
    fake.deployment(&format!("hoist-k8s-{tenant}"), "emr")["spec"]["template"]["spec"]["containers"]
        [0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs hoist in a blocking thread, so the fake keeps answering on the test's runtime.
async fn hoist(app: &App, kubeconfig: &std::path::Path, args: &[&str]) -> support::Run {
    let mut cmd = app.hoist_command(args);
    cmd.env("KUBECONFIG", kubeconfig);
    tokio::task::spawn_blocking(move || support::Run::from(cmd.output().expect("run hoist")))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_history_status_and_rollback_on_kubernetes() {
    let fake = FakeApiServer::start(Scenario::default()).await;
    let app = App::new("hoist-k8s-e2e", &[20549]);
    for tenant in TENANTS {
        fake.add_deployment(
            &format!("hoist-k8s-{tenant}"),
            "emr",
            "app",
            "hoist-test/hoist-k8s-e2e:v0.9.0",
            2,
        );
    }
    let kubeconfig = fake.write_kubeconfig(app.root());
    app.write(".gitignore", ".hoist/\nkubeconfig\n");
    app.append_config(
        "[environments.production]\nrollout = { health_timeout = \"30s\" }\n\n\
         [[environments.production.instances]]\ntenant = \"north\"\nport = 20548\n\n\
         [[environments.production.instances]]\ntenant = \"south\"\nport = 20547\n\n\
         [environments.production.runtime]\nkind = \"kubernetes\"\nnamespace = \"hoist-k8s-{tenant}\"\n\
         deployment = \"emr\"\ncontainer = \"app\"\ntimeout = \"60s\"\n",
    );

    app.release("v1.0.0");
    let first = hoist(&app, &kubeconfig, &["deploy", "production"])
        .await
        .ok();
    for tenant in TENANTS {
        let image = image(&fake, tenant);
        assert!(
            image.ends_with(":v1.0.0"),
            "{tenant}: {image}\n{}",
            first.stderr
        );
    }
    assert!(
        first.stderr.contains("updated replicas are available"),
        "kubectl's progress messages: {}",
        first.stderr
    );

    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v1.1.0");
    hoist(&app, &kubeconfig, &["deploy", "production"])
        .await
        .ok();
    for tenant in TENANTS {
        assert!(image(&fake, tenant).ends_with(":v1.1.0"));
        let d = fake.deployment(&format!("hoist-k8s-{tenant}"), "emr");
        assert_eq!(d["metadata"]["labels"]["dev.hoist.release"], "v1.1.0");
        let cause = d["metadata"]["annotations"]["kubernetes.io/change-cause"]
            .as_str()
            .unwrap();
        assert!(
            cause.contains("v1.1.0") && cause.contains("by tester"),
            "{cause}"
        );
    }

    // hoist does not probe a pod's health over HTTP from outside the cluster: the
    // Deployment's readiness probes decide, and `status` takes health from the runtime.
    let status = hoist(&app, &kubeconfig, &["status", "production", "--json"])
        .await
        .ok()
        .json();
    let instances = status["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 2, "{status:#}");
    for instance in instances {
        assert_eq!(instance["runtime"], "kubernetes", "{status:#}");
        assert_eq!(instance["running_release"], "v1.1.0", "{status:#}");
        assert_eq!(instance["matches_current"], true, "{status:#}");
        assert_eq!(instance["healthy"], true, "{status:#}");
    }

    let history = hoist(&app, &kubeconfig, &["history", "production", "--json"])
        .await
        .ok();
    assert!(history.stdout.contains("v1.1.0") && history.stdout.contains("v1.0.0"));

    let rollback = hoist(&app, &kubeconfig, &["rollback", "production", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(rollback["release"]["version"], "v1.0.0", "{rollback:#}");
    for tenant in TENANTS {
        assert!(image(&fake, tenant).ends_with(":v1.0.0"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_is_a_clear_deploy_failure() {
    let fake = FakeApiServer::start(Scenario {
        forbidden_patch: true,
        ..Default::default()
    })
    .await;
    let app = App::new("hoist-k8s-e2e-denied", &[20546]);
    fake.add_deployment("hoist-k8s-north", "emr", "app", "hoist-test/x:v0", 1);
    let kubeconfig = fake.write_kubeconfig(app.root());
    app.write(".gitignore", ".hoist/\nkubeconfig\n");
    app.append_config(
        "[environments.production]\n\n[[environments.production.instances]]\ntenant = \"north\"\nport = 20545\n\n\
         [environments.production.runtime]\nkind = \"kubernetes\"\nnamespace = \"hoist-k8s-{tenant}\"\ndeployment = \"emr\"\n",
    );
    app.release("v1.0.0");
    let run = hoist(&app, &kubeconfig, &["deploy", "production"]).await;
    assert_ne!(run.code, 0);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("forbids hoist to patch deployment \"emr\" in namespace \"hoist-k8s-north\""),
        "{said}"
    );
    assert!(!said.contains(fake_apiserver::TOKEN), "{said}");
}
