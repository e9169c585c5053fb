//! The agent endpoint under hostile input: malformed gRPC frames, lying length prefixes,
//! oversized messages, streams that never end, and garbage HTTP/2 at the gRPC port, all
//! while a real agent is connected. The server must stay up, end every bad call on its own,
//! and keep running approved jobs on the real agent; nothing a stranger sends may touch
//! another host's tasks.
//!
//! Random cases come from a seeded generator: the seed is printed, and
//! `STEWARD_FUZZ_SEED=<n>` replays a run; `STEWARD_FUZZ_ROUNDS` sets how many random calls.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use steward_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::codegen::{http, Bytes};

const SESSION: &str = "/steward.v1.AgentService/Session";
const ENROLL: &str = "/steward.v1.AgentService/Enroll";
/// The server's decoding limit for one agent message.
const LIMIT: usize = 4 * 1024 * 1024;
/// Longer than any bad call may live: the hello timeout (10 s) plus slack.
const CALL_DEADLINE: Duration = Duration::from_secs(25);

/// A gRPC message: the uncompressed flag, the big-endian length, the bytes.
fn framed(payload: &[u8]) -> Bytes {
    prefixed(payload.len() as u32, payload)
}

/// A frame whose prefix claims `claimed` bytes, whatever follows.
fn prefixed(claimed: u32, payload: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(5 + payload.len());
    b.push(0);
    b.extend_from_slice(&claimed.to_be_bytes());
    b.extend_from_slice(payload);
    b.into()
}

fn msg(m: pb::agent_message::Msg) -> Bytes {
    framed(&pb::AgentMessage { msg: Some(m) }.encode_to_vec())
}

fn hello(hostname: &str, tasks: Vec<pb::TaskRef>) -> Bytes {
    msg(pb::agent_message::Msg::Hello(pb::Hello {
        hostname: hostname.into(),
        agent_version: "fuzz".into(),
        facts: None,
        tasks,
    }))
}

/// What the client sends on one call.
enum Body {
    /// These chunks, then the end of the stream.
    Chunks(Vec<Bytes>),
    /// These chunks, then one byte every `every`, never ending.
    Trickle(Vec<Bytes>, Duration),
    /// Nothing at all, never ending.
    Silent,
}

/// How a call ended, as the client saw it.
#[derive(Debug)]
enum Outcome {
    /// A gRPC status (headers or trailers).
    Status(String),
    /// The stream or the connection was reset or failed.
    Failed(String),
    /// The server never ended it.
    Hung,
}

async fn connect(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// One raw call on `conn`: sends `body`, reads the whole answer (releasing flow control as
/// it goes), and reports how the server ended it.
async fn call(conn: &h2::client::SendRequest<Bytes>, path: &str, token: Option<&str>, body: Body) -> Outcome {
    let run = async {
        let mut send = match conn.clone().ready().await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("connection: {e}")),
        };
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://steward{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let (response, mut stream) = match send.send_request(req.body(()).unwrap(), false) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("send: {e}")),
        };
        let sender = tokio::spawn(async move {
            match body {
                Body::Chunks(chunks) => {
                    let n = chunks.len();
                    for (i, c) in chunks.into_iter().enumerate() {
                        if stream.send_data(c, i + 1 == n).is_err() {
                            return;
                        }
                    }
                    if n == 0 {
                        let _ = stream.send_data(Bytes::new(), true);
                    }
                }
                Body::Trickle(chunks, every) => {
                    for c in chunks {
                        if stream.send_data(c, false).is_err() {
                            return;
                        }
                    }
                    loop {
                        tokio::time::sleep(every).await;
                        if stream.send_data(Bytes::from_static(b"\x08"), false).is_err() {
                            return;
                        }
                    }
                }
                Body::Silent => {
                    std::future::pending::<()>().await;
                    drop(stream);
                }
            }
        });
        let outcome = match response.await {
            Err(e) => Outcome::Failed(format!("response: {e}")),
            Ok(r) => {
                if let Some(s) = r.headers().get("grpc-status") {
                    Outcome::Status(s.to_str().unwrap_or("?").to_owned())
                } else {
                    let mut body = r.into_body();
                    let mut failed = None;
                    while let Some(chunk) = body.data().await {
                        match chunk {
                            Ok(c) => {
                                let _ = body.flow_control().release_capacity(c.len());
                            }
                            Err(e) => {
                                failed = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    match failed {
                        Some(e) => Outcome::Failed(format!("body: {e}")),
                        None => match body.trailers().await {
                            Ok(Some(t)) => Outcome::Status(
                                t.get("grpc-status")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("none")
                                    .to_owned(),
                            ),
                            Ok(None) => Outcome::Status("no trailers".into()),
                            Err(e) => Outcome::Failed(format!("trailers: {e}")),
                        },
                    }
                }
            }
        };
        sender.abort();
        outcome
    };
    tokio::time::timeout(CALL_DEADLINE, run).await.unwrap_or(Outcome::Hung)
}

/// Writes `bytes` on a fresh TCP connection to `addr` and reports whether the server closed
/// the connection by itself within `wait`.
async fn raw(addr: SocketAddr, bytes: Vec<u8>, wait: Duration) -> bool {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // The server may hang up before everything is written: that is a fine answer.
    let _ = tcp.write_all(&bytes).await;
    let drained = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(wait, drained).await.is_ok()
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame: 24-bit length (as claimed), type, flags, stream id, payload.
fn h2_frame(claimed_len: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = claimed_len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn h2_settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = pairs
        .iter()
        .flat_map(|(k, v)| k.to_be_bytes().into_iter().chain(v.to_be_bytes()))
        .collect();
    h2_frame(payload.len() as u32, 0x4, 0, 0, &payload)
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n).map(|_| rng.gen()).collect()
}

fn random_string(rng: &mut StdRng, max: usize) -> String {
    let n = rng.gen_range(0..=max);
    (0..n)
        .map(|_| match rng.gen_range(0..4) {
            0 => '\0',
            1 => char::from_u32(rng.gen_range(0x80..0x2_0000)).unwrap_or('é'),
            _ => rng.gen_range(' '..='~'),
        })
        .collect()
}

/// A well-formed message with hostile content: other hosts' task ids, attempts and
/// sequence numbers at their limits, outcomes that do not exist, NULs in text.
fn random_message(rng: &mut StdRng, task_ids: &[i64]) -> pb::agent_message::Msg {
    use pb::agent_message::Msg;
    let task_id = match rng.gen_range(0..4) {
        0 => rng.gen(),
        1 => -rng.gen_range(0..10i64),
        _ => task_ids[rng.gen_range(0..task_ids.len())],
    };
    let edge_u64 = |rng: &mut StdRng| [0, 1, 2, u64::MAX, i64::MAX as u64, rng.gen()][rng.gen_range(0..6)];
    let task_ref = |rng: &mut StdRng| pb::TaskRef {
        task_id: task_ids[rng.gen_range(0..task_ids.len())],
        attempt: rng.gen_range(0..3),
        last_seq: edge_u64(rng),
        running: rng.gen(),
    };
    match rng.gen_range(0..6) {
        0 => Msg::Heartbeat(pb::Heartbeat {
            sent_at_ms: rng.gen(),
            running: (0..rng.gen_range(0..4)).map(|_| task_ref(rng)).collect(),
        }),
        1 => Msg::Metrics(pb::MetricBatch {
            samples: (0..rng.gen_range(0..20))
                .map(|_| pb::MetricSample {
                    name: random_string(rng, 40),
                    labels: Default::default(),
                    value: [f64::NAN, f64::INFINITY, -0.0, rng.gen()][rng.gen_range(0..4)],
                    at_ms: rng.gen(),
                })
                .collect(),
            seq: edge_u64(rng),
            dropped: edge_u64(rng),
        }),
        2 => Msg::Hello(pb::Hello {
            hostname: random_string(rng, 300),
            agent_version: random_string(rng, 20),
            facts: None,
            tasks: (0..rng.gen_range(0..4)).map(|_| task_ref(rng)).collect(),
        }),
        _ => {
            use pb::task_event::Kind;
            let kind = match rng.gen_range(0..4) {
                0 => Some(Kind::Started(pb::TaskStarted { pid: rng.gen() })),
                1 => Some(Kind::Log(pb::TaskLog {
                    stream: rng.gen_range(-1..4),
                    line: random_string(rng, 2000),
                })),
                2 => Some(Kind::Finished(pb::TaskFinished {
                    outcome: rng.gen_range(-2..8),
                    exit_code: rng.gen(),
                    error: random_string(rng, 100),
                })),
                _ => None,
            };
            Msg::TaskEvent(pb::TaskEvent {
                task_id,
                attempt: [0, 1, 2, u32::MAX][rng.gen_range(0..4)],
                seq: edge_u64(rng),
                at_ms: rng.gen(),
                kind,
            })
        }
    }
}

/// One random malformed or hostile call; `i` keeps its fake hostname unique.
fn random_case(rng: &mut StdRng, i: usize, task_ids: &[i64]) -> (&'static str, Option<&'static str>, Body) {
    let host = format!("fuzz-{i}");
    let chunks = match rng.gen_range(0..9) {
        // Random bytes as the message.
        0 => vec![framed(&random_bytes(rng, 300))],
        // A hello, then random bytes as messages.
        1 => (0..rng.gen_range(1..5)).map(|_| framed(&random_bytes(rng, 200))).fold(
            vec![hello(&host, vec![])],
            |mut v, f| {
                v.push(f);
                v
            },
        ),
        // A prefix promising more than follows.
        2 => vec![prefixed(rng.gen_range(10..100_000), &random_bytes(rng, 9))],
        // A prefix promising less than follows (the rest reads as a bogus next prefix).
        3 => {
            let payload = random_bytes(rng, 500);
            vec![prefixed(rng.gen_range(0..=payload.len() as u32 / 2), &payload)]
        }
        // Claims beyond the 4 MiB limit, up to u32::MAX.
        4 => vec![prefixed(
            rng.gen_range(LIMIT as u32 + 1..=u32::MAX),
            &random_bytes(rng, 64),
        )],
        // The compressed flag set, though no compression was negotiated.
        5 => {
            let mut f = framed(&random_bytes(rng, 50)).to_vec();
            f[0] = rng.gen_range(1..=255);
            vec![f.into()]
        }
        // Split across frames at random points.
        6 => {
            let mut whole = hello(&host, vec![]).to_vec();
            whole.extend_from_slice(&framed(&random_bytes(rng, 100)));
            let mut out = Vec::new();
            while !whole.is_empty() {
                let n = rng.gen_range(1..=whole.len().min(7));
                out.push(Bytes::from(whole.drain(..n).collect::<Vec<_>>()));
            }
            out
        }
        // A valid hello, then well-formed messages with hostile content.
        _ => {
            let mut v = vec![hello(
                &host,
                (0..2)
                    .map(|_| pb::TaskRef {
                        task_id: task_ids[rng.gen_range(0..task_ids.len())],
                        attempt: 1,
                        last_seq: 0,
                        running: rng.gen(),
                    })
                    .collect(),
            )];
            for _ in 0..rng.gen_range(1..30) {
                v.push(msg(random_message(rng, task_ids)));
            }
            v
        }
    };
    let (path, token) = match rng.gen_range(0..10) {
        0 => (SESSION, None),
        1 => (SESSION, Some("not-the-token")),
        2 => (ENROLL, None),
        _ => (SESSION, Some(TOKEN)),
    };
    (path, token, Body::Chunks(chunks))
}

/// The log lines the server stored for a job, in order.
async fn job_logs(server: &Server, id: i64) -> String {
    server.text(&format!("/api/v1/jobs/{id}/logs")).await
}

async fn run_echo(server: &Server, lines: u32) -> Value {
    let done = server
        .run_job(json!({"cluster": "fuzz", "service": "app", "component": "worker", "command": "echo", "params": {"lines": lines}}), 60)
        .await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_agent_traffic_never_takes_the_server_or_other_agents_down() {
    let seed: u64 = std::env::var("STEWARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("STEWARD_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    println!("STEWARD_FUZZ_SEED={seed} STEWARD_FUZZ_ROUNDS={rounds}");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().unwrap();
    let mut server = testing_server(dir.path(), &[]);
    server.cluster("fuzz", &["real-1"]).await;
    let agent = start_agent(&server, "real-1", &dir.path().join("agent"));
    server.wait_online("real-1").await;

    // A finished job whose task ids the fuzzer then aims at.
    let before = run_echo(&server, 3).await;
    let before_id = before["id"].as_i64().unwrap();
    let before_logs = job_logs(&server, before_id).await;
    let mut task_ids: Vec<i64> = tasks(&before).iter().map(|t| t["id"].as_i64().unwrap()).collect();
    task_ids.extend([0, 1, 2, 3, i64::MAX, i64::MIN]);

    let addr = server.grpc;
    let mut slow = tokio::task::JoinSet::new();
    {
        // Streams that never end by themselves: the server must end them.
        let conn = connect(addr).await;
        let cases: Vec<(&str, Body)> = vec![
            ("silent, no hello", Body::Silent),
            (
                "a hello trickled one byte at a time",
                Body::Trickle(vec![prefixed(1000, b"\x0a")], Duration::from_millis(200)),
            ),
            (
                "a message trickled after the hello",
                Body::Trickle(
                    vec![hello("fuzz-slow", vec![]), prefixed(100_000, b"")],
                    Duration::from_millis(200),
                ),
            ),
        ];
        for (name, body) in cases {
            let conn = conn.clone();
            slow.spawn(async move { (name, call(&conn, SESSION, Some(TOKEN), body).await) });
        }
    }

    // A real job runs while the noise goes on.
    let during = {
        let job = server
            .propose(json!({"cluster": "fuzz", "service": "app", "component": "worker", "command": "slow", "params": {"ticks": 30}}))
            .await;
        server.approve(&job).await;
        job["id"].as_i64().unwrap()
    };

    // Targeted cases first, each on its own connection so one reset cannot hide another.
    let big_hello = {
        let m = pb::AgentMessage {
            msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
                hostname: "x".repeat(LIMIT + 1024),
                ..Default::default()
            })),
        };
        framed(&m.encode_to_vec())
    };
    let almost_limit_log = msg(pb::agent_message::Msg::TaskEvent(pb::TaskEvent {
        task_id: task_ids[0],
        attempt: 1,
        seq: 99,
        at_ms: 0,
        kind: Some(pb::task_event::Kind::Log(pb::TaskLog {
            stream: 1,
            line: "y".repeat(LIMIT - 1024),
        })),
    }));
    let targeted: Vec<(&str, Option<&str>, Body)> = vec![
        (
            "a real 4 MiB + 1 KiB message",
            Some(TOKEN),
            Body::Chunks(vec![big_hello.clone()]),
        ),
        ("the same without a token", None, Body::Chunks(vec![big_hello])),
        (
            "a hello, then a legal message just under the limit",
            Some(TOKEN),
            Body::Chunks(vec![hello("fuzz-big", vec![]), almost_limit_log]),
        ),
        (
            "a prefix claiming u32::MAX bytes",
            Some(TOKEN),
            Body::Chunks(vec![prefixed(u32::MAX, b"abc")]),
        ),
        ("an empty stream", Some(TOKEN), Body::Chunks(vec![])),
        (
            "a 4-byte stub of a prefix",
            Some(TOKEN),
            Body::Chunks(vec![Bytes::from_static(b"\0\0\0\x10")]),
        ),
        (
            "a hello for the real agent's host",
            Some(TOKEN),
            Body::Chunks(vec![hello("real-1", vec![])]),
        ),
    ];
    let mut findings = Vec::new();
    for (name, token, body) in targeted {
        let conn = connect(addr).await;
        let outcome = call(&conn, SESSION, token, body).await;
        if matches!(outcome, Outcome::Hung) {
            findings.push(format!("{name}: the server never ended the call"));
        }
    }

    // Random cases, spread over a few connections.
    let conns = [connect(addr).await, connect(addr).await, connect(addr).await];
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..rounds {
        let (path, token, body) = random_case(&mut rng, i, &task_ids);
        let outcome = call(&conns[i % conns.len()], path, token, body).await;
        let key = match &outcome {
            Outcome::Status(s) => format!("grpc-status {s}"),
            Outcome::Failed(e) => format!("failed ({})", e.split(':').next().unwrap_or("")),
            Outcome::Hung => {
                findings.push(format!(
                    "random case {i} (seed {seed}): the server never ended the call"
                ));
                "hung".to_string()
            }
        };
        *tally.entry(key).or_default() += 1;
    }
    println!("random calls by outcome: {tally:?}");

    // Rapid reset: open streams and cancel them at once, many times over.
    {
        let conn = connect(addr).await;
        for _ in 0..500 {
            let Ok(mut send) = conn.clone().ready().await else {
                break;
            };
            let req = http::Request::builder()
                .method("POST")
                .uri(format!("http://steward{SESSION}"))
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            match send.send_request(req, false) {
                Ok((_, mut stream)) => stream.send_reset(h2::Reason::CANCEL),
                Err(_) => break,
            }
        }
    }

    // Garbage below gRPC. What RFC 9113 makes a connection error must close the connection;
    // the rest (a malformed request is a stream error, a partial frame is just unfinished)
    // only has to leave the server serving.
    let mut garbage: Vec<(&str, bool, Vec<u8>)> = vec![
        ("random bytes", true, random_bytes(&mut rng, 4096)),
        ("HTTP/1.1", true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "TLS client hello",
            true,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        ),
    ];
    let after_preface: Vec<(&str, bool, Vec<u8>)> = vec![
        ("random frames", false, random_bytes(&mut rng, 4096)),
        (
            "a frame claiming 16 MiB",
            true,
            h2_frame(0xFF_FFFF, 0x0, 0, 1, &random_bytes(&mut rng, 100)),
        ),
        (
            "SETTINGS with an impossible window",
            true,
            h2_settings(&[(0x4, 0x8000_0000)]),
        ),
        ("SETTINGS with a tiny frame size", true, h2_settings(&[(0x5, 1)])),
        (
            "HEADERS with random HPACK",
            false,
            h2_frame(64, 0x1, 0x4 | 0x1, 1, &random_bytes(&mut rng, 64)),
        ),
        // Index 0 does not exist in HPACK: a compression error, fatal to the connection.
        (
            "HEADERS with an impossible HPACK index",
            true,
            h2_frame(1, 0x1, 0x4 | 0x1, 1, &[0x80]),
        ),
        (
            "a zero WINDOW_UPDATE",
            true,
            h2_frame(4, 0x8, 0, 0, &0u32.to_be_bytes()),
        ),
        ("DATA on stream 0", true, h2_frame(4, 0x0, 0, 0, b"oops")),
        ("endless CONTINUATION", true, {
            let block = vec![0x40u8; 1024];
            let mut f = h2_settings(&[]);
            f.extend(h2_frame(block.len() as u32, 0x1, 0, 1, &block));
            for _ in 0..4000 {
                f.extend(h2_frame(block.len() as u32, 0x9, 0, 1, &block));
            }
            f
        }),
    ];
    for (name, must_close, bytes) in after_preface {
        let mut all = PREFACE.to_vec();
        all.extend(bytes);
        garbage.push((name, must_close, all));
    }
    for (name, must_close, bytes) in garbage {
        let wait = if must_close {
            CALL_DEADLINE
        } else {
            Duration::from_secs(1)
        };
        if !raw(addr, bytes, wait).await && must_close {
            findings.push(format!("garbage HTTP/2 ({name}): the server kept the connection open"));
        }
    }
    // Half a preface, then silence: held open while we check the server still serves.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(&PREFACE[..10]).await.unwrap();

    while let Some(r) = slow.join_next().await {
        let (name, outcome) = r.unwrap();
        if matches!(outcome, Outcome::Hung) {
            findings.push(format!("{name}: the server never ended the call"));
        }
    }

    // The server is up, the real agent never lost its session, and jobs still run there.
    assert!(server.proc.alive(), "the server died");
    let (s, _) = server.get("/healthz").await;
    assert_eq!(s, 200);
    let done = server.wait_done(during, 60).await;
    assert_eq!(done["state"], "SUCCESSFUL", "the job that ran during the noise: {done}");
    let (_, host) = server.get("/api/v1/hosts/real-1").await;
    assert_eq!(host["state"], "ONLINE", "{host}");
    assert_ne!(
        host["agent_version"], "fuzz",
        "a refused duplicate hello overwrote the live host's facts"
    );
    run_echo(&server, 5).await;
    let unchanged = server.get(&format!("/api/v1/jobs/{before_id}")).await.1;
    assert_eq!(unchanged["state"], "SUCCESSFUL", "{unchanged}");
    assert_eq!(
        job_logs(&server, before_id).await,
        before_logs,
        "events from other hosts changed a finished job's logs"
    );
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    // How far the noise got, to show it reached the session code and not only the codec.
    println!(
        "server log: {} sessions welcomed, {} refused after connecting, {} refused at the door, {} stream errors",
        log.matches("agent connected").count(),
        log.matches("agent session refused").count(),
        log.matches("agent refused").count(),
        log.matches("agent stream error").count(),
    );
    assert!(findings.is_empty(), "seed {seed}:\n{}", findings.join("\n"));
    drop(half);
    let agent_log = std::fs::read_to_string(agent.data.join("agent.log")).unwrap();
    assert_eq!(
        agent_log.matches("welcomed by the server").count(),
        1,
        "the real agent had to reconnect:\n{agent_log}"
    );
    server.proc.kill();
}
