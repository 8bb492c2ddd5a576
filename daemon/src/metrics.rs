//! A Prometheus text-format endpoint (`GET /metrics`) with the counters of the operational
//! state: DHCPv4 and DHCPv6 messages by type, drops by reason, pool use, leases held, lease
//! file size, and the failover relationship. Off unless `[metrics]` enables it; on loopback
//! unless told otherwise, since it needs no credentials.

use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::dhcp6::packet::msg;
use crate::ha::State;
use crate::northbound::state::Sources;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr}: {source}")]
pub struct MetricsError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Cause.
    pub source: std::io::Error,
}

/// A metric family being written: HELP and TYPE once, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The metrics page.
pub fn render(src: &Sources) -> String {
    let mut x = String::with_capacity(4096);
    let started = src
        .started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Family::new(
        &mut x,
        "netdhcp_start_time_seconds",
        "gauge",
        "When the daemon started (Unix time).",
    )
    .sample("netdhcp_start_time_seconds", &[], started);
    let size = std::fs::metadata(&src.lease_file)
        .map(|m| m.len())
        .unwrap_or(0);
    Family::new(
        &mut x,
        "netdhcp_lease_file_bytes",
        "gauge",
        "Size of the DHCPv4 lease file.",
    )
    .sample("netdhcp_lease_file_bytes", &[], size);
    lease_file_metrics(&mut x, src);

    let c4 = &src.counters4;
    let name = "netdhcp_dhcp4_received_total";
    let mut f = Family::new(
        &mut x,
        name,
        "counter",
        "DHCPv4 messages received, by type.",
    );
    for (kind, i) in [
        ("discover", 1),
        ("request", 3),
        ("decline", 4),
        ("release", 7),
        ("inform", 8),
    ] {
        f.sample(name, &[("type", kind)], get(&c4.received_by_type[i]));
    }
    let name = "netdhcp_dhcp4_sent_total";
    let mut f = Family::new(&mut x, name, "counter", "DHCPv4 messages sent, by type.");
    for (kind, i) in [("offer", 2), ("ack", 5), ("nak", 6)] {
        f.sample(name, &[("type", kind)], get(&c4.sent_by_type[i]));
    }
    let name = "netdhcp_dhcp4_dropped_total";
    let mut f = Family::new(
        &mut x,
        name,
        "counter",
        "DHCPv4 messages left unanswered, by reason.",
    );
    for (reason, c) in [
        ("malformed", &c4.malformed),
        ("no-subnet", &c4.no_subnet),
        ("pool-exhausted", &c4.pool_exhausted),
        ("other", &c4.silent_other),
        ("lease-write-failed", &c4.lease_write_failed),
        ("partner-update-failed", &c4.partner_update_failed),
        ("send-failed", &c4.send_failed),
    ] {
        f.sample(name, &[("reason", reason)], get(c));
    }
    let usage = src.usage4.load();
    Family::new(
        &mut x,
        "netdhcp_dhcp4_leases",
        "gauge",
        "DHCPv4 lease records held.",
    )
    .sample("netdhcp_dhcp4_leases", &[], usage.leases);
    let name = "netdhcp_dhcp4_pool_addresses";
    let mut f = Family::new(
        &mut x,
        name,
        "gauge",
        "Addresses of each DHCPv4 pool: total, in use, and declined (on probation, included in in-use).",
    );
    for (subnet, pools) in &usage.subnets {
        let subnet = subnet.to_string();
        for p in pools {
            let start = p.start.to_string();
            let labels = |state| {
                [
                    ("subnet", subnet.as_str()),
                    ("pool", start.as_str()),
                    ("state", state),
                ]
            };
            f.sample(name, &labels("total"), p.total);
            f.sample(name, &labels("in-use"), p.in_use);
            f.sample(name, &labels("declined"), p.declined);
        }
    }

    let c6 = &src.counters6;
    let name = "netdhcp_dhcp6_received_total";
    let mut f = Family::new(
        &mut x,
        name,
        "counter",
        "DHCPv6 messages received, by type.",
    );
    for (kind, t) in [
        ("solicit", msg::SOLICIT),
        ("request", msg::REQUEST),
        ("renew", msg::RENEW),
        ("rebind", msg::REBIND),
        ("release", msg::RELEASE),
        ("decline", msg::DECLINE),
    ] {
        f.sample(
            name,
            &[("type", kind)],
            get(&c6.received_by_type[usize::from(t)]),
        );
    }
    let name = "netdhcp_dhcp6_sent_total";
    let mut f = Family::new(&mut x, name, "counter", "DHCPv6 messages sent, by type.");
    for (kind, t) in [("advertise", msg::ADVERTISE), ("reply", msg::REPLY)] {
        f.sample(
            name,
            &[("type", kind)],
            get(&c6.sent_by_type[usize::from(t)]),
        );
    }
    let name = "netdhcp_dhcp6_dropped_total";
    let mut f = Family::new(
        &mut x,
        name,
        "counter",
        "DHCPv6 messages left unanswered, by reason.",
    );
    for (reason, c) in [
        ("malformed", &c6.malformed),
        ("no-subnet", &c6.no_subnet),
        ("not-for-us", &c6.not_for_us),
        ("other", &c6.silent_other),
        ("lease-write-failed", &c6.lease_write_failed),
        ("partner-update-failed", &c6.partner_update_failed),
        ("send-failed", &c6.send_failed),
    ] {
        f.sample(name, &[("reason", reason)], get(c));
    }
    let name = "netdhcp_dhcp6_leases";
    Family::new(&mut x, name, "gauge", "DHCPv6 lease records held.").sample(
        name,
        &[],
        get(&c6.leases),
    );
    let name = "netdhcp_dhcp6_pool_leases";
    let mut f = Family::new(
        &mut x,
        name,
        "gauge",
        "Addresses (type ia-na) or delegated prefixes (ia-pd) of each DHCPv6 pool: total, in use, and declined (on probation, included in in-use).",
    );
    for (subnet, pools) in &src.usage6.load().subnets {
        let subnet = subnet.to_string();
        for p in pools {
            let pool = format!("{}/{}", p.start, p.length);
            let kind = match p.kind {
                crate::stats::PoolKind6::Address => "ia-na",
                crate::stats::PoolKind6::Prefix => "ia-pd",
            };
            let labels = |state| {
                [
                    ("subnet", subnet.as_str()),
                    ("pool", pool.as_str()),
                    ("type", kind),
                    ("state", state),
                ]
            };
            f.sample(name, &labels("total"), p.total);
            f.sample(name, &labels("in-use"), p.in_use);
            f.sample(name, &labels("declined"), p.declined);
        }
    }

    if let Some(ha) = src.ha.shared.load_full() {
        let status = ha.status.load();
        let name = "netdhcp_ha_state";
        let mut f = Family::new(
            &mut x,
            name,
            "gauge",
            "This server's failover state (1 for the current one).",
        );
        for s in State::ALL {
            f.sample(name, &[("state", s.name())], u8::from(s == status.state));
        }
        Family::new(
            &mut x,
            "netdhcp_ha_communication_interrupted",
            "gauge",
            "1 when no heartbeat succeeded for max-response-delay.",
        )
        .sample(
            "netdhcp_ha_communication_interrupted",
            &[],
            u8::from(status.communication_interrupted),
        );
        let c = &ha.counters;
        for (metric, help, counter) in [
            (
                "netdhcp_ha_updates_sent_total",
                "Lease changes the partner acknowledged.",
                &c.updates_sent,
            ),
            (
                "netdhcp_ha_updates_failed_total",
                "Lease changes the partner did not acknowledge.",
                &c.updates_failed,
            ),
            (
                "netdhcp_ha_backup_updates_failed_total",
                "Lease changes a backup did not acknowledge.",
                &c.backup_updates_failed,
            ),
            (
                "netdhcp_ha_updates_received_total",
                "Lease changes received from the partner.",
                &c.updates_received,
            ),
            (
                "netdhcp_ha_unsent_updates_total",
                "Lease changes made without sending them to the partner.",
                &c.unsent_updates,
            ),
            (
                "netdhcp_ha_not_in_scope_total",
                "Client messages left to the partner.",
                &c.not_in_scope,
            ),
        ] {
            Family::new(&mut x, metric, "counter", help).sample(metric, &[], get(counter));
        }
    }
    x
}

/// Binds the endpoint (so a taken address fails start-up) and returns the server future.
pub async fn bind(
    addr: SocketAddr,
    sources: Arc<Sources>,
) -> Result<impl std::future::Future<Output = ()>, MetricsError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError { addr, source })?;
    tracing::info!(%addr, "Prometheus metrics at /metrics");
    Ok(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    continue;
                }
            };
            let sources = sources.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let sources = sources.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &sources)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "metrics connection ended");
                }
            });
        }
    })
}

/// Rows held by each lease file and when it was last compacted (absent before the first
/// compaction since start).
fn lease_file_metrics(x: &mut String, src: &Sources) {
    let family =
        |w: &crate::lease::memfile::MemfileWriter| if w.is_v6() { "dhcp6" } else { "dhcp4" };
    let name = "netdhcp_lease_file_rows";
    let mut f = Family::new(
        x,
        name,
        "gauge",
        "Lease rows in the files a restart replays (active file and last compaction's output).",
    );
    for w in &src.lease_writers {
        f.sample(name, &[("family", family(w))], w.stats().rows());
    }
    let name = "netdhcp_lease_file_last_compaction_seconds";
    let mut f = Family::new(
        x,
        name,
        "gauge",
        "When the last successful compaction of the lease file ended (Unix time).",
    );
    for w in &src.lease_writers {
        if let Some(t) = w.stats().last_compaction() {
            f.sample(name, &[("family", family(w))], t);
        }
    }
}

fn answer(req: &Request<Incoming>, sources: &Sources) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(sources),
        ),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Counters4;

    #[test]
    fn the_page_is_prometheus_text_with_the_state_counters() {
        let counters4 = Arc::new(Counters4::default());
        counters4.sent_by_type[5].fetch_add(42, Ordering::Relaxed);
        let src = crate::northbound::state::test_sources(counters4);
        let page = render(&src);
        assert!(
            page.contains("netdhcp_dhcp4_sent_total{type=\"ack\"} 42\n"),
            "{page}"
        );
        assert!(page.contains(
            "netdhcp_dhcp4_pool_addresses{subnet=\"1\",pool=\"100.64.0.10\",state=\"in-use\"} 3\n"
        ));
        assert!(page.contains(
            "netdhcp_dhcp4_pool_addresses{subnet=\"1\",pool=\"100.64.0.10\",state=\"declined\"} 1\n"
        ));
        assert!(page.contains("# TYPE netdhcp_dhcp4_received_total counter\n"));
        assert!(!page.contains("netdhcp_ha_state"), "no failover configured");
        // Every sample line is `name{labels} value` or `name value`.
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
