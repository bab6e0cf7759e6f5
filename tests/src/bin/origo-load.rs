//! An HTTP/1.1 load generator for comparing servers on one machine.
//!
//! * `--rate R`: open loop. Requests are scheduled at a fixed rate and each latency is measured
//!   from its *scheduled* start, so a stalled server cannot hide its queueing delay
//!   (no coordinated omission).
//! * no `--rate`: closed loop, as fast as `--connections` keep-alive connections allow.
//!
//! Prints one JSON object: requests, errors, non-2xx, achieved rate, latency percentiles (ms).

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use origo_tests::latency::Latencies;

#[derive(Parser, Debug)]
struct Args {
    /// Target URL (http only), e.g. http://127.0.0.1:8080/probe/hello
    url: String,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Duration of the measured run, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up before measuring, seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Requests per second in total (open loop); omit for a closed loop.
    #[arg(long)]
    rate: Option<f64>,
}

struct Report {
    latencies: Latencies,
    errors: u64,
    non_2xx: u64,
}

async fn connect(addr: &str) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Where to send requests.
#[derive(Clone)]
struct Target {
    addr: String,
    uri: http::Uri,
}

/// When to send them.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    /// Per-connection interval in open-loop mode.
    interval: Option<Duration>,
}

/// One connection's worker: sends requests at its share of the schedule until the end.
async fn worker(target: Target, schedule: Schedule, offset: Duration) -> Report {
    let Target { addr, uri } = target;
    let Schedule { start, measure_from, end, interval } = schedule;
    let host = addr.clone();
    let mut report = Report { latencies: Latencies::default(), errors: 0, non_2xx: 0 };
    let mut sender = match connect(&addr).await {
        Ok(s) => s,
        Err(_) => {
            report.errors += 1;
            return report;
        }
    };
    let mut next = start + offset;
    loop {
        let scheduled = match interval {
            Some(iv) => {
                if next >= end {
                    break;
                }
                tokio::time::sleep_until(next.into()).await;
                let s = next;
                next += iv;
                s
            }
            None => {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                now
            }
        };
        let req = http::Request::get(uri.clone()).header(http::header::HOST, &host).body(Empty::<Bytes>::new());
        let Ok(req) = req else {
            report.errors += 1;
            break;
        };
        let result = async {
            sender.ready().await?;
            let res = sender.send_request(req).await?;
            let status = res.status();
            res.into_body().collect().await?;
            anyhow::Ok(status)
        }
        .await;
        let done = Instant::now();
        match result {
            Ok(status) => {
                if scheduled >= measure_from {
                    if !status.is_success() {
                        report.non_2xx += 1;
                    }
                    report.latencies.record(done - scheduled);
                }
            }
            Err(_) => {
                report.errors += 1;
                match connect(&addr).await {
                    Ok(s) => sender = s,
                    Err(_) => break,
                }
            }
        }
    }
    report
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let uri: http::Uri = args.url.parse()?;
    anyhow::ensure!(uri.scheme_str() == Some("http"), "only http:// URLs");
    let authority = uri.authority().ok_or_else(|| anyhow::anyhow!("URL needs host:port"))?.to_string();
    let path_uri: http::Uri = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").parse()?;
    let connections = args.connections.max(1);
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    // Each connection sends every `connections`-th request of the global schedule.
    let interval = args.rate.map(|r| Duration::from_secs_f64(connections as f64 / r.max(0.001)));
    let target = Target { addr: authority, uri: path_uri };
    let schedule = Schedule { start, measure_from, end, interval };
    let mut handles = Vec::new();
    for i in 0..connections {
        let offset = args.rate.map(|r| Duration::from_secs_f64(i as f64 / r.max(0.001))).unwrap_or_default();
        handles.push(tokio::spawn(worker(target.clone(), schedule, offset)));
    }
    let mut all = Latencies::default();
    let (mut errors, mut non_2xx) = (0u64, 0u64);
    for h in handles {
        let r = h.await?;
        errors += r.errors;
        non_2xx += r.non_2xx;
        all.merge(r.latencies);
    }
    let n = all.len();
    let out = serde_json::json!({
        "url": args.url,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "connections": connections,
        "target_rate": args.rate,
        "duration_s": args.duration,
        "requests": n,
        "errors": errors,
        "non_2xx": non_2xx,
        "achieved_rps": n as f64 / args.duration,
        "p50_ms": all.quantile_ms(0.50),
        "p90_ms": all.quantile_ms(0.90),
        "p99_ms": all.quantile_ms(0.99),
        "p999_ms": all.quantile_ms(0.999),
        "max_ms": all.quantile_ms(1.0),
    });
    println!("{out}");
    Ok(())
}
