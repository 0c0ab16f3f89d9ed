//! The dashboard in a real headless Chromium, driven through WebDriver (Debian's
//! `chromium` and `chromium-driver`; this test starts `chromedriver` itself on port
//! 20701). The app is the clinic example's shape: northside, riverside and lakeside in
//! staging and production, each a busybox container built and run by hoist on the real
//! Docker engine.
//!
//! It signs in (a bad token first), checks that the matrix shows what each tenant runs,
//! then starts a deploy through the API with the page open and waits, on the page's own
//! content, for each instance's live progress and the rollout's end.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hoist_core::Store;
use serde_json::json;
use support::*;

const CHROMEDRIVER_PORT: u16 = 20701;
const SERVER_PORT: u16 = 20710;
const TENANTS: [&str; 3] = ["northside", "riverside", "lakeside"];
/// How long a page may take to show what the test waits for (a deploy included).
const PATIENCE: Duration = Duration::from_secs(180);

/// `chromedriver` on its port, stopped when dropped.
struct Chromedriver(Child);

/// Fails (never skips) when the browser is missing, saying how to install it.
fn require_browser() {
    for binary in ["chromedriver", "chromium"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()));
        assert!(
            found,
            "`{binary}` is not installed: run scripts/setup-machine.sh (it installs Debian's \
             chromium and chromium-driver)"
        );
    }
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let child = Command::new("chromedriver")
            .arg(format!("--port={CHROMEDRIVER_PORT}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", CHROMEDRIVER_PORT)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver does not listen on port {CHROMEDRIVER_PORT}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            // Root in a container: Chromium's sandbox cannot start.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{CHROMEDRIVER_PORT}"))
        .await
        .expect("a Chromium session through chromedriver")
}

fn example_app() -> App {
    let staging: Vec<(String, u16)> = TENANTS
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), 20711 + i as u16))
        .collect();
    let mut production = String::from(
        "[environments.production]\nrollout = { health_timeout = \"10s\", concurrency = 3 }\n",
    );
    for (i, tenant) in TENANTS.iter().enumerate() {
        production.push_str(&format!(
            "\n[[environments.production.instances]]\ntenant = \"{tenant}\"\nport = {}\n",
            20714 + i
        ));
    }
    App::named("dash-browser", &staging, &production)
}

/// Queues a deploy through the API and waits until it succeeded.
async fn deploy(client: &reqwest::Client, serving: &Serving, token: &str, environment: &str) {
    let (status, job) = post(
        client,
        &serving.url("/api/v1/deploy"),
        token,
        json!({ "environment": environment }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    let job = job_end(client, serving, token, id, PATIENCE).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
}

/// The matrix cell of `tenant` in `environment`: (release, state).
async fn cell(browser: &Client, environment: &str, tenant: &str) -> (String, String) {
    let css = format!("td.cell[data-env=\"{environment}\"][data-tenant=\"{tenant}\"]");
    let cell = browser.find(Locator::Css(&css)).await.expect(&css);
    let release = cell.find(Locator::Css(".release")).await.unwrap();
    let state = cell.find(Locator::Css(".state")).await.unwrap();
    (release.text().await.unwrap(), state.text().await.unwrap())
}

#[test]
fn the_matrix_shows_each_tenants_release_and_follows_a_deploy_live() {
    require_browser();
    let app = example_app();
    app.release("v1.0.0", "<h1>one</h1>\n");
    runtime().block_on(async {
        let serving = Serving::start(&app, SERVER_PORT, Duration::from_secs(60)).await;
        let http = reqwest::Client::new();
        let ada = token(
            &app,
            "ada-ci",
            "ada",
            &["deploy:staging", "deploy:production"],
        );
        let reader = token(&app, "ops-dashboard", "ops", &["read"]);
        deploy(&http, &serving, &ada, "staging").await;
        deploy(&http, &serving, &ada, "production").await;
        app.release("v1.1.0", "<h1>two</h1>\n");

        let _driver = Chromedriver::start();
        let browser = browser().await;

        // Not signed in: the sign-in form. A bad token is refused there.
        browser.goto(&serving.url("/")).await.unwrap();
        assert!(browser.current_url().await.unwrap().path() == "/signin");
        let field = browser.find(Locator::Id("token")).await.unwrap();
        field.send_keys("hoist_not-a-token").await.unwrap();
        browser
            .find(Locator::Id("signin"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let error = browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Id("signin-error"))
            .await
            .unwrap();
        assert!(error.text().await.unwrap().contains("sign-in failed"));

        // The read token signs in and lands on the matrix.
        let field = browser.find(Locator::Id("token")).await.unwrap();
        field.send_keys(&reader).await.unwrap();
        browser
            .find(Locator::Id("signin"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Id("matrix"))
            .await
            .unwrap();
        for environment in ["staging", "production"] {
            for tenant in TENANTS {
                assert_eq!(
                    cell(&browser, environment, tenant).await,
                    ("v1.0.0".to_string(), "healthy".to_string()),
                    "{environment}/{tenant}"
                );
            }
        }
        // A read token is offered no deploy form.
        assert!(
            browser
                .find(Locator::Css("form[action=\"/deploy\"]"))
                .await
                .is_err()
        );

        // With the page open and following the event stream, a deploy through the API.
        browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("body[data-live-state=\"connected\"]"))
            .await
            .unwrap();
        let (status, job) = post(
            &http,
            &serving.url("/api/v1/deploy"),
            &ada,
            json!({ "environment": "staging" }),
        )
        .await;
        assert_eq!(status, 202, "{job}");

        // The page shows the rollout's end when it comes...
        let outcome = browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(
                "#live .rollout[data-environment=\"staging\"] .outcome[data-outcome=\"succeeded\"]",
            ))
            .await
            .unwrap();
        assert!(outcome.text().await.unwrap().starts_with("succeeded"));
        // ...after each instance's progress, row by row, as it happened.
        let rows = browser
            .find_all(Locator::Css("#live table.instances tr[data-tenant]"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
        for row in rows {
            let tenant = row.attr("data-tenant").await.unwrap().unwrap();
            let states = row.attr("data-states").await.unwrap().unwrap_or_default();
            let states: Vec<&str> = states.split(' ').collect();
            assert_eq!(states.last(), Some(&"healthy"), "{tenant}: {states:?}");
            assert!(
                states.contains(&"starting") && states.contains(&"verifying"),
                "{tenant} showed its steps as they came: {states:?}"
            );
        }
        // The matrix's cells followed: staging runs v1.1.0, production still v1.0.0.
        for tenant in TENANTS {
            assert_eq!(cell(&browser, "staging", tenant).await.0, "v1.1.0");
            assert_eq!(cell(&browser, "production", tenant).await.0, "v1.0.0");
        }

        // Loaded afresh, the matrix says the same from the store, and marks production's
        // tenants as current there (v1.1.0 is staging's, not production's newest).
        browser.goto(&serving.url("/")).await.unwrap();
        for tenant in TENANTS {
            assert_eq!(
                cell(&browser, "staging", tenant).await,
                ("v1.1.0".to_string(), "healthy".to_string())
            );
            assert_eq!(cell(&browser, "production", tenant).await.0, "v1.0.0");
        }

        // The deployment's page: each instance's steps, and the run's log tail.
        let deployment = app
            .store()
            .deployments(&app.name, "staging", 1)
            .unwrap()
            .remove(0);
        browser
            .goto(&serving.url(&format!("/deployments/{}", deployment.id)))
            .await
            .unwrap();
        let outcome = browser.find(Locator::Id("outcome")).await.unwrap();
        assert_eq!(outcome.text().await.unwrap(), "succeeded");
        for tenant in TENANTS {
            let css = format!("table.instances tr[data-tenant=\"{tenant}\"] .steps");
            let steps = browser.find(Locator::Css(&css)).await.unwrap();
            let steps = steps.text().await.unwrap();
            assert!(steps.ends_with("healthy"), "{tenant}: {steps}");
            assert!(steps.contains("starting"), "{tenant}: {steps}");
        }
        let tail = browser.find(Locator::Id("tail")).await.unwrap();
        assert!(!tail.text().await.unwrap().is_empty());

        // A page following the event stream does not hold the server's stop: the stream
        // ends, and the page says it lost it.
        browser.goto(&serving.url("/")).await.unwrap();
        browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("body[data-live-state=\"connected\"]"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), serving.stop())
            .await
            .expect("the server stops although a page follows its events");
        browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("body[data-live-state=\"reconnecting\"]"))
            .await
            .unwrap();
        browser.close().await.unwrap();
    });
}
