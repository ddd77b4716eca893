//! etcd flags in the spelling each release accepts.
//!
//! etcd 3.6 renamed the `--experimental-*` flags (value flags lose the prefix, switches become
//! `--feature-gates` entries); 3.5 and older know only the old names and 3.7 only the new ones,
//! and either exits on a flag it does not know. A cluster in a rolling upgrade runs both kinds,
//! so the kit takes either spelling and gives each member the one its binary understands.

/// Value flags whose name lost `experimental-` in 3.6: (old, new).
const RENAMED: &[(&str, &str)] = &[
    ("experimental-watch-progress-notify-interval", "watch-progress-notify-interval"),
    ("experimental-corrupt-check-time", "corrupt-check-time"),
    ("experimental-compact-hash-check-time", "compact-hash-check-time"),
    ("experimental-compaction-batch-limit", "compaction-batch-limit"),
    ("experimental-compaction-sleep-interval", "compaction-sleep-interval"),
    ("experimental-downgrade-check-time", "downgrade-check-time"),
    ("experimental-warning-apply-duration", "warning-apply-duration"),
    ("experimental-memory-mlock", "memory-mlock"),
    ("experimental-bootstrap-defrag-threshold-megabytes", "bootstrap-defrag-threshold-megabytes"),
    ("experimental-peer-skip-client-san-verification", "peer-skip-client-san-verification"),
    ("experimental-enable-distributed-tracing", "enable-distributed-tracing"),
    ("experimental-distributed-tracing-address", "distributed-tracing-address"),
    ("experimental-distributed-tracing-service-name", "distributed-tracing-service-name"),
    ("experimental-distributed-tracing-instance-id", "distributed-tracing-instance-id"),
    ("experimental-distributed-tracing-sampling-rate", "distributed-tracing-sampling-rate"),
];

/// Switches that became feature gates in 3.6: (old flag, gate).
const GATES: &[(&str, &str)] = &[
    ("experimental-initial-corrupt-check", "InitialCorruptCheck"),
    ("experimental-compact-hash-check-enabled", "CompactHashCheck"),
    ("experimental-enable-lease-checkpoint", "LeaseCheckpoint"),
    ("experimental-enable-lease-checkpoint-persist", "LeaseCheckpointPersist"),
    ("experimental-stop-grpc-service-on-defrag", "StopGRPCServiceOnDefrag"),
    ("experimental-txn-mode-write-with-shared-buffer", "TxnModeWriteWithSharedBuffer"),
];

/// `args` spelled for an etcd of version `major_minor`: the new names from 3.6 on, the
/// `--experimental-*` names before. Flags the tables do not name pass through unchanged.
pub(crate) fn for_version(args: &[String], major_minor: (u32, u32)) -> Vec<String> {
    let new_names = major_minor >= (3, 6);
    let mut out = Vec::with_capacity(args.len());
    let mut gates: Vec<String> = Vec::new();
    for arg in args {
        let Some(flag) = arg.strip_prefix("--") else {
            out.push(arg.clone());
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        if name == "feature-gates" && !new_names {
            // Each `Gate=bool` back to its old switch.
            for entry in value.unwrap_or_default().split(',').filter(|e| !e.is_empty()) {
                let (gate, on) = entry.split_once('=').unwrap_or((entry, "true"));
                match GATES.iter().find(|(_, g)| *g == gate) {
                    Some((old, _)) => out.push(format!("--{old}={on}")),
                    None => out.push(format!("--feature-gates={entry}")),
                }
            }
            continue;
        }
        if name == "feature-gates" {
            gates.extend(value.unwrap_or_default().split(',').filter(|e| !e.is_empty()).map(str::to_string));
            continue;
        }
        if new_names {
            if let Some((_, gate)) = GATES.iter().find(|(old, _)| *old == name) {
                gates.push(format!("{gate}={}", value.unwrap_or("true")));
                continue;
            }
        }
        let renamed = RENAMED.iter().find_map(|(old, new)| match (new_names, name) {
            (true, n) if n == *old => Some(*new),
            (false, n) if n == *new => Some(*old),
            _ => None,
        });
        match (renamed, value) {
            (Some(to), Some(value)) => out.push(format!("--{to}={value}")),
            (Some(to), None) => out.push(format!("--{to}")),
            (None, _) => out.push(arg.clone()),
        }
    }
    if !gates.is_empty() {
        out.push(format!("--feature-gates={}", gates.join(",")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::for_version;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn old_names_become_new_ones_from_3_6() {
        let given = args(&[
            "--experimental-watch-progress-notify-interval=200ms",
            "--experimental-initial-corrupt-check=true",
            "--auth-token-ttl=2",
            "--experimental-enable-lease-checkpoint",
        ]);
        assert_eq!(
            for_version(&given, (3, 7)),
            args(&[
                "--watch-progress-notify-interval=200ms",
                "--auth-token-ttl=2",
                "--feature-gates=InitialCorruptCheck=true,LeaseCheckpoint=true",
            ])
        );
    }

    #[test]
    fn new_names_become_old_ones_before_3_6() {
        let given =
            args(&["--watch-progress-notify-interval=1s", "--feature-gates=CompactHashCheck=true,Unknown=false"]);
        assert_eq!(
            for_version(&given, (3, 5)),
            args(&[
                "--experimental-watch-progress-notify-interval=1s",
                "--experimental-compact-hash-check-enabled=true",
                "--feature-gates=Unknown=false",
            ])
        );
    }

    #[test]
    fn a_right_spelling_is_kept() {
        // Gates are gathered into one flag, placed last.
        let given = args(&["--downgrade-check-time=1s", "--feature-gates=LeaseCheckpoint=true"]);
        assert_eq!(for_version(&given, (3, 6)), given);
        let old = args(&["--experimental-downgrade-check-time=1s"]);
        assert_eq!(for_version(&old, (3, 4)), old);
    }
}
