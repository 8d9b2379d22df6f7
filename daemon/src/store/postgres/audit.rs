//! The change audit chain on PostgreSQL: one chain for every node, appended inside the
//! transaction of the change it records. The head row (`audit_head`) is locked by the
//! appending transaction, so records are numbered without gaps in commit order and each
//! links the one committed before it (`audit::chain`); a transaction that rolls back
//! leaves no record and no gap.

use super::{Tx, execute, query};
use crate::domain::audit::chain::{self, Head};
use crate::domain::audit::{self, AuditRecord};

/// Seals `records` onto the chain in `tx`. Call it last in a transaction: the head stays
/// locked until the commit.
pub(crate) async fn append(
    tx: &Tx<'_>,
    records: Vec<AuditRecord>,
) -> Result<(), tokio_postgres::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let rows = query(tx, "SELECT next, hash FROM audit_head FOR UPDATE", &[]).await?;
    let mut head = match rows.first() {
        Some(row) => {
            let next: i64 = row.try_get(0)?;
            let hash: Vec<u8> = row.try_get(1)?;
            Head {
                next: next as u64,
                hash: <[u8; 32]>::try_from(hash.as_slice()).unwrap_or([0; 32]),
            }
        }
        None => Head::EMPTY,
    };
    let mut positions = Vec::with_capacity(records.len());
    let mut bytes = Vec::with_capacity(records.len());
    let mut operator = Vec::with_capacity(records.len());
    for mut record in records {
        positions.push(head.next as i64);
        operator.push(audit::is_operator_change(&record.action));
        let (sealed, after) = chain::seal(&mut record, head);
        bytes.push(sealed);
        head = after;
    }
    let next = head.next as i64;
    let hash = head.hash.to_vec();
    let (inserted, updated) = tokio::join!(
        async {
            execute(
                tx,
                "INSERT INTO audit (position, record, operator) \
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::boolean[])",
                &[&positions, &bytes, &operator],
            )
            .await
        },
        async {
            execute(
                tx,
                "UPDATE audit_head SET next = $1, hash = $2",
                &[&next, &hash],
            )
            .await
        },
    );
    super::all_ok([inserted, updated])
}
