//! Serving HTTP through the library, in-process: what `wharf serve` does,
//! as a server embedding wharf does it (its own requests through
//! `Server::handle`, or wharf's listener through `Server::serve`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wharf::runtime::{Call, Runtime, Source};
use wharf::serve::{Access, AppKind, Peers, ServeOptions, Server};

fn guest(name: &str) -> Source {
    let path = format!("{}/tests/guests/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Source::bytes(name, wat::parse_str(text).unwrap())
}

fn peers() -> Peers {
    Peers {
        local: "127.0.0.1:8080".parse().unwrap(),
        remote: "192.0.2.7:40000".parse().unwrap(),
    }
}

async fn text(response: http::Response<wharf::serve::ResponseBody>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_answers_requests_handed_to_it_as_cgi() {
    let runtime = Runtime::builder().pool(4).build().unwrap();
    let app = runtime.load(guest("cgi")).unwrap();
    let server = Server::builder(app)
        .call(|| Call::new().env("APP_MODE", "test"))
        .build()
        .unwrap();
    assert_eq!(server.kind(), AppKind::Cgi);
    let request = http::Request::post("/orders/7?verbose=1")
        .header("host", "shop.test")
        .header("content-type", "text/plain")
        .header("x-trace", "abc")
        .body(Full::new(Bytes::from_static(b"two\nlines")))
        .unwrap();
    let response = server.handle(request, peers()).await;
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain"
    );
    let (status, body) = text(response).await;
    assert_eq!(status, 201);
    let (vars, stdin) = body.split_once("--\n").unwrap();
    let vars: Vec<&str> = vars.lines().collect();
    for expected in [
        "APP_MODE=test",
        "REQUEST_METHOD=POST",
        "PATH_INFO=/orders/7",
        "QUERY_STRING=verbose=1",
        "CONTENT_LENGTH=9",
        "CONTENT_TYPE=text/plain",
        "SERVER_NAME=shop.test",
        "SERVER_PORT=8080",
        "REMOTE_ADDR=192.0.2.7",
        "HTTP_X_TRACE=abc",
    ] {
        assert!(vars.contains(&expected), "no {expected} in {vars:?}");
    }
    assert_eq!(stdin, "two\nlines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_that_fail_cost_their_own_request_a_5xx_and_nothing_else() {
    let runtime = Runtime::builder().pool(4).build().unwrap();
    let app = runtime.load(guest("hostile")).unwrap();
    // The hostile guest misbehaves by its argument's length.
    for (arg, status, reason) in [
        ("x", 504, "the guest exceeded its timeout of 200ms"),
        ("xx", 500, "the guest exceeded its memory limit of 16MiB"),
        (
            "xxx",
            500,
            "the guest trapped: wasm trap: wasm `unreachable` instruction executed",
        ),
    ] {
        let server = Server::builder(app.clone())
            .call(move || {
                Call::new()
                    .args([arg])
                    .memory(16 << 20)
                    .timeout(Duration::from_millis(200))
            })
            .build()
            .unwrap();
        let request = http::Request::get("/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (got, body) = text(server.handle(request, peers()).await).await;
        assert_eq!(
            (got, body.as_str()),
            (status, format!("{reason}\n").as_str()),
            "{arg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_a_real_client_logs_each_request_and_stops_when_told() {
    let runtime = Runtime::builder().pool(4).build().unwrap();
    let app = runtime.load(guest("cgi")).unwrap();
    let log: Arc<Mutex<Vec<Access>>> = Arc::default();
    let seen = log.clone();
    let server = Server::builder(app)
        .options(ServeOptions {
            max_body: 16,
            ..ServeOptions::default()
        })
        .on_access(move |access| seen.lock().unwrap().push(access.clone()))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    let client = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut ok = agent
            .post(format!("http://{address}/a?b=c"))
            .send("hello")
            .unwrap();
        let ok = (
            ok.status().as_u16(),
            ok.body_mut().read_to_string().unwrap(),
        );
        let mut big = agent
            .post(format!("http://{address}/big"))
            .send(&[0u8; 17][..])
            .unwrap();
        let big = (
            big.status().as_u16(),
            big.body_mut().read_to_string().unwrap(),
        );
        (ok, big)
    })
    .await
    .unwrap();
    assert_eq!(client.0.0, 201);
    assert!(client.0.1.contains("PATH_INFO=/a\n"), "{}", client.0.1);
    assert!(client.0.1.ends_with("--\nhello"), "{}", client.0.1);
    assert_eq!(
        client.1,
        (413, "the request body is larger than 16 bytes\n".to_owned())
    );
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
    let log = log.lock().unwrap();
    let lines: Vec<(String, u16, Option<String>)> = log
        .iter()
        .map(|a| (a.target.clone(), a.status.as_u16(), a.failure.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            ("/a?b=c".to_owned(), 201, None),
            (
                "/big".to_owned(),
                413,
                Some("the request body is larger than 16 bytes".to_owned())
            ),
        ]
    );
    assert_eq!(log[0].bytes, client.0.1.len() as u64);
    assert_eq!(log[0].method, http::Method::POST);
}
