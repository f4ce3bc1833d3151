//! The registry race: two writers changing one registry item at once, every acknowledged
//! change checked to own a revision.

use super::RaceOutcome;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use warmstart_core::aws::{apply_change, RegistryTable, Updated};
use warmstart_core::registry::Change;
use warmstart_devkit::registry::item_with_canary;

/// Two writers change one registry item at once, `writes` times each (conditional writes on
/// its revision, retried on conflict by `apply_change`): every acknowledged change must own
/// one revision of the item.
pub(super) async fn registry_race(registry: &RegistryTable, writes: u8) -> Result<RaceOutcome> {
    const MODEL: &str = "chaos-race";
    let item = item_with_canary(
        MODEL,
        "2026-01-01T00-00-00Z-race-active",
        "2026-01-02T00-00-00Z-race-canary",
        1,
    );
    registry
        .put(&item, None)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the race item: {e:?}"))?;
    let writers: Vec<_> = (0..2u8)
        .map(|w| {
            let registry = registry.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let (mut failed, mut conflicts) = (0usize, 0u32);
                for i in 0..writes {
                    // Writer 0 even weights, writer 1 odd: no change is a no-op.
                    let weight = 2 + 2 * i + w;
                    match apply_change(
                        &registry,
                        None,
                        MODEL,
                        &Change::SetCanary { weight },
                        &format!("chaos-writer-{w}"),
                        &format!("race write {i}"),
                    )
                    .await
                    {
                        Ok(Updated::Written { item, attempts, .. }) => {
                            acked.push(item.revision);
                            conflicts += attempts - 1;
                        }
                        Ok(Updated::Unchanged { .. }) | Err(_) => failed += 1,
                    }
                }
                (acked, failed, conflicts)
            })
        })
        .collect();
    let mut out = RaceOutcome {
        writers: 2,
        revision_before: 1,
        ..RaceOutcome::default()
    };
    let mut revisions = Vec::new();
    for w in writers {
        let (acked, failed, conflicts) = w.await.context("race writer")?;
        revisions.extend(acked);
        out.failed += failed;
        out.conflicts_retried += conflicts;
    }
    out.acknowledged = revisions.len();
    let after = registry
        .get(MODEL)
        .await
        .map_err(|e| anyhow::anyhow!("reading the race item: {e}"))?
        .context("the race item is gone")?;
    out.revision_after = after.revision;
    out.lost = lost_writes(&revisions, out.revision_before, out.revision_after);
    Ok(out)
}

/// Acknowledged writes that do not own a revision of their own in `(before, after]`.
pub fn lost_writes(acked_revisions: &[u64], before: u64, after: u64) -> usize {
    let owned: BTreeSet<u64> = acked_revisions
        .iter()
        .copied()
        .filter(|r| *r > before && *r <= after)
        .collect();
    acked_revisions.len() - owned.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_lost_when_its_revision_is_shared_or_beyond_the_item() {
        assert_eq!(lost_writes(&[2, 3, 4, 5], 1, 5), 0);
        // Two writers both acknowledged at revision 3: one of the changes was overwritten.
        assert_eq!(lost_writes(&[2, 3, 3, 4], 1, 4), 1);
        assert_eq!(lost_writes(&[2, 3, 9], 1, 3), 1);
        assert_eq!(lost_writes(&[], 1, 1), 0);
    }
}
