//! `outlast plan cluster.toml`: which losses of providers, regions and zones the voters survive;
//! and `outlast config check FILE…`: whether node files describe one cluster that can start.

use std::path::Path;
use std::process::ExitCode;

use outlast_cluster::config::ClusterFile;
use outlast_cluster::config_check::Measured;
use outlast_cluster::topology::{fatal_provider_losses, losses, Domain};

pub fn run(path: &Path) -> ExitCode {
    let cluster = match ClusterFile::load(path) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let voters = cluster.members();
    println!("{} voters; a loss is survived while a majority ({}) remains.", voters.len(), voters.len() / 2 + 1);
    for (id, node) in &voters {
        println!("  node {id}: provider {}, region {}, zone {}", node.provider, node.region, node.zone);
    }
    let all = losses(&voters);
    for domain in Domain::ALL {
        for width in [1, 2] {
            let rows: Vec<_> = all.iter().filter(|l| l.domain == domain && l.lost.len() == width).collect();
            if rows.is_empty() {
                continue;
            }
            let kind = if width == 1 { "single" } else { "double" };
            println!("\n{kind} {} losses:", domain.name());
            for loss in rows {
                let verdict = if loss.survived() { "survives" } else { "STOPS" };
                println!(
                    "  lose {:<30} {} of {} voters left  {verdict}",
                    loss.lost.join(" + "),
                    loss.voters_left,
                    loss.voters
                );
            }
        }
    }
    let fatal = fatal_provider_losses(&voters);
    if fatal.is_empty() {
        println!("\nverdict: survives the loss of any one provider");
        ExitCode::SUCCESS
    } else {
        println!("\nverdict: UNSAFE — losing {} stops the cluster", fatal.join(" or "));
        ExitCode::from(1)
    }
}

/// `outlast config check`: every file on its own, then all together
/// (`outlast_cluster::config_check`); the findings, each with what to change.
/// The round trips each member of a running cluster measured to its peers, as its operator
/// plane's cluster view reports them.
fn measured_round_trips(on: &crate::backup_cmd::From) -> Result<Vec<Measured>, String> {
    use outlast_backup::Source;
    let (reader, _) = crate::backup_cmd::reader(on)?;
    let view = crate::backup_cmd::runtime().block_on(reader.get("/operator/v1/cluster", &[]))?;
    let mut measured = Vec::new();
    for node in view["nodes"].as_array().ok_or("the cluster view lists no nodes")? {
        let from = node["id"].as_u64().ok_or("a node without an id")?;
        for (to, rtt_ms) in node["roundTripsMs"].as_object().into_iter().flatten() {
            let to = to.parse().map_err(|_| format!("node {from}: a peer id {to:?}"))?;
            let rtt_ms = rtt_ms.as_u64().ok_or_else(|| format!("node {from}: a round trip {rtt_ms}"))?;
            measured.push(Measured { from, to, rtt_ms });
        }
    }
    Ok(measured)
}

pub fn check(paths: &[std::path::PathBuf], measured_on: &crate::backup_cmd::From) -> ExitCode {
    let mut loaded = Vec::new();
    let mut failed = false;
    for path in paths {
        match outlast_cluster::config::NodeConfig::load(path) {
            Ok(config) => loaded.push((path.clone(), config)),
            Err(error) => {
                println!("{error}");
                failed = true;
            }
        }
    }
    if failed {
        println!("verdict: REFUSED (fix the files above, then check again)");
        return ExitCode::from(1);
    }
    let mut findings = outlast_cluster::config_check::check_cluster(&loaded);
    if measured_on.given() {
        match measured_round_trips(measured_on) {
            Ok(measured) => {
                let longest = measured.iter().max_by_key(|m| m.rtt_ms);
                match longest {
                    Some(m) => println!(
                        "measured: {} round trip(s), the longest {} ms (node {} to node {})",
                        measured.len(),
                        m.rtt_ms,
                        m.from,
                        m.to
                    ),
                    None => println!("measured: no round trips yet (the members sample each other every second)"),
                }
                findings.extend(outlast_cluster::config_check::check_measured(&loaded, &measured));
            }
            Err(error) => {
                println!("cannot read the measured round trips: {error}");
                println!("verdict: REFUSED (fix the files above, then check again)");
                return ExitCode::from(1);
            }
        }
    }
    for finding in &findings {
        println!("{}: {}", finding.file.display(), finding.problem);
    }
    if findings.is_empty() {
        let first = &loaded[0].1;
        println!(
            "verdict: OK: {} file(s), {} member(s), heartbeat {} ms, election timeout {:?} ms",
            loaded.len(),
            first.peers.len(),
            first.heartbeat_ms,
            first.election_timeout_ms
        );
        ExitCode::SUCCESS
    } else {
        println!("verdict: REFUSED ({} finding(s))", findings.len());
        ExitCode::from(1)
    }
}
