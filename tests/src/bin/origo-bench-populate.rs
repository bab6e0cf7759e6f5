//! Fills an embedded store (`DATA_DIR/kv.redb`) with records unrelated to anything Origo
//! reads, so a benchmark can compare a small store with a large one: keys `junk:{i}` for
//! `i` in `0..count`, each holding `value_bytes` bytes, written in batches of one
//! transaction each. Keys already there are overwritten, so a second run with a larger count
//! only adds the difference. `origo` must not be running on the file (redb locks it).
//!
//! Prints one JSON object: the records now in the table, the junk keys written, the seconds
//! it took, and the store's format marker (`store_format`, absent before the first sweep).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

#[derive(Parser, Debug)]
struct Args {
    /// The embedded store, e.g. `data/kv.redb`.
    #[arg(long)]
    db: PathBuf,
    /// The key-value store's table (its label in `spin.toml`).
    #[arg(long, default_value = "default")]
    table: String,
    /// How many junk keys the table holds afterwards.
    #[arg(long)]
    count: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 64)]
    value_bytes: usize,
    /// Keys per transaction.
    #[arg(long, default_value_t = 50_000)]
    batch: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let db = redb::Database::create(&args.db)?;
    let table: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(&args.table);
    let value = vec![b'x'; args.value_bytes];
    let mut next = 0;
    while next < args.count {
        let end = (next + args.batch.max(1)).min(args.count);
        let txn = db.begin_write()?;
        {
            let mut t = txn.open_table(table)?;
            for i in next..end {
                t.insert(format!("junk:{i}").as_str(), value.as_slice())?;
            }
        }
        txn.commit()?;
        next = end;
    }
    let txn = db.begin_read()?;
    let t = txn.open_table(table)?;
    let marker = t.get("store_format")?.map(|v| String::from_utf8_lossy(v.value()).into_owned());
    let report = serde_json::json!({
        "records": t.len()?,
        "junk": args.count,
        "seconds": started.elapsed().as_secs_f64(),
        "store_format": marker,
    });
    println!("{report}");
    Ok(())
}
