//! A change sink that spills planned changes to a JSON-lines file, for plans too large to hold in memory
//! (a re-baseline of a million rows sends every row).
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::plan::{Change, ChangeSink};

static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

/// Writes each change as one JSON line; retracted changes are skipped when reading back.
#[derive(Debug)]
pub struct SpillSink {
    path: PathBuf,
    writer: BufWriter<File>,
    retracted: Vec<u64>,
    count: u32,
}

impl SpillSink {
    /// Creates a new spill file in `dir` (removed when the read-back is dropped).
    pub fn create(dir: &Path) -> io::Result<Self> {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("shopsync-changes-{}-{n}.jsonl", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            writer: BufWriter::with_capacity(1 << 16, file),
            retracted: Vec::new(),
            count: 0,
        })
    }

    /// Flushes the file and returns the surviving changes for reading.
    pub fn finish(mut self) -> io::Result<SpilledChanges> {
        self.writer.flush()?;
        let path = std::mem::take(&mut self.path);
        Ok(SpilledChanges {
            path,
            retracted: std::mem::take(&mut self.retracted),
            count: self.count,
        })
    }

    fn is_retracted(bits: &[u64], n: u32) -> bool {
        bits.get(n as usize / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }
}

impl Drop for SpillSink {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl ChangeSink for SpillSink {
    type Error = io::Error;

    fn push(&mut self, change: Change) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, &change)?;
        self.writer.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    fn retract(&mut self, number: u32) -> io::Result<()> {
        let word = number as usize / 64;
        if self.retracted.len() <= word {
            self.retracted.resize(word + 1, 0);
        }
        self.retracted[word] |= 1 << (number % 64);
        Ok(())
    }
}

/// The changes of a finished spill, readable any number of times; the file is deleted on drop.
#[derive(Debug)]
pub struct SpilledChanges {
    path: PathBuf,
    retracted: Vec<u64>,
    count: u32,
}

impl SpilledChanges {
    /// How many changes survive.
    pub fn len(&self) -> usize {
        let retracted: u32 = self.retracted.iter().map(|w| w.count_ones()).sum();
        (self.count - retracted.min(self.count)) as usize
    }

    /// Whether no change survives.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the surviving changes back, in plan order.
    pub fn iter(&self) -> io::Result<impl Iterator<Item = io::Result<Change>> + '_> {
        let reader = BufReader::with_capacity(1 << 16, File::open(&self.path)?);
        Ok(reader
            .lines()
            .enumerate()
            .filter(|(n, _)| !SpillSink::is_retracted(&self.retracted, *n as u32))
            .map(|(_, line)| line.and_then(|l| serde_json::from_str(&l).map_err(io::Error::other))))
    }
}

impl Drop for SpilledChanges {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
