//! A change sink that spills planned changes to a JSON-lines file, for plans too large to hold in memory
//! (a re-baseline of a million rows sends every row).
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::core::plan::{Change, ChangeSink};
use crate::core::spill::{ChangeSpill, SpillError, SpillReader, SpillWriter};

/// Spill files are named `shopsync-changes-<random>.jsonl`.
const PREFIX: &str = "shopsync-changes-";
const SUFFIX: &str = ".jsonl";

/// Writes each change as one JSON line; retracted changes are skipped when reading back.
#[derive(Debug)]
pub struct SpillSink {
    path: PathBuf,
    writer: BufWriter<File>,
    retracted: Vec<u64>,
    count: u32,
}

impl SpillSink {
    /// Creates a new spill file in `dir` (removed when the read-back is dropped), locked for as long as this
    /// process uses it.
    ///
    /// The name is random, not the process id: a controller restarted in the same pod is pid 1 again, and a
    /// file its killed predecessor left would be in the way.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let (file, path) = tempfile::Builder::new()
            .prefix(PREFIX)
            .suffix(SUFFIX)
            .rand_bytes(12)
            .tempfile_in(dir)?
            .keep()
            .map_err(|e| e.error)?;
        // The lock goes when the process does, however it ends: `sweep_spill_files` tells a dead run's file by it.
        file.try_lock().map_err(io::Error::other)?;
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
        // The same open file as the writer's, so the lock stays while the changes are read back.
        let lock = self.writer.get_ref().try_clone()?;
        let path = std::mem::take(&mut self.path);
        Ok(SpilledChanges {
            _lock: lock,
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
    /// Holds the file's lock until the changes are dropped.
    _lock: File,
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

/// Removes the spill files in `dir` that no process holds: those of runs killed before they could remove their
/// own (a `kill -9`, an OOM kill, a pod restarted with the same `emptyDir`). Returns how many went. A file being
/// written or read is locked by its process, so it is never touched.
pub fn sweep_spill_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        // Holding the lock while removing: no live process can hold it, and none will reopen the name.
        if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The spill port on disk: each run's changes go to a JSON-lines file in a directory (the system's temporary
/// directory by default), removed when the run is done with it.
#[derive(Debug, Clone)]
pub struct SpillDir {
    dir: PathBuf,
}

impl SpillDir {
    /// Spill files go to `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SpillDir {
        SpillDir { dir: dir.into() }
    }
}

impl Default for SpillDir {
    fn default() -> SpillDir {
        SpillDir::new(std::env::temp_dir())
    }
}

fn spill_error(what: &str, e: io::Error) -> SpillError {
    SpillError(format!("{what} the spill file: {e}"))
}

impl ChangeSpill for SpillDir {
    fn create(&self) -> Result<Box<dyn SpillWriter>, SpillError> {
        let swept = sweep_spill_files(&self.dir);
        if swept > 0 {
            tracing::info!(swept, dir = %self.dir.display(), "removed spill files of runs that were killed");
        }
        let sink = SpillSink::create(&self.dir)
            .map_err(|e| spill_error(&format!("creating in {}", self.dir.display()), e))?;
        Ok(Box::new(sink))
    }
}

impl SpillWriter for SpillSink {
    fn push(&mut self, change: Change) -> Result<(), SpillError> {
        ChangeSink::push(self, change).map_err(|e| spill_error("writing", e))
    }

    fn retract(&mut self, number: u32) -> Result<(), SpillError> {
        ChangeSink::retract(self, number).map_err(|e| spill_error("writing", e))
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn SpillReader>, SpillError> {
        let spilled = (*self).finish().map_err(|e| spill_error("flushing", e))?;
        Ok(Box::new(SpillFile {
            spilled,
            cursors: Mutex::new(Vec::new()),
        }))
    }
}

/// Reads of one spill file kept open: the engine reads a range to send it and again to record it, and each
/// goes on from where one of them stopped.
const CURSORS: usize = 2;

/// A finished spill read back in chunks; a read that goes on from where an earlier one stopped reads on.
#[derive(Debug)]
struct SpillFile {
    spilled: SpilledChanges,
    cursors: Mutex<Vec<Cursor>>,
}

/// An open read of the file: the next line, and the position (among surviving changes) of the next change.
#[derive(Debug)]
struct Cursor {
    reader: BufReader<File>,
    line: u32,
    next: u64,
}

impl SpillReader for SpillFile {
    fn len(&self) -> u64 {
        self.spilled.len() as u64
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<Change>, SpillError> {
        let mut cursors = self
            .cursors
            .lock()
            .map_err(|_| SpillError("the spill file's readers were poisoned".into()))?;
        // The open read furthest along that has not passed `from`; another one (replacing the oldest) if none.
        let best = cursors
            .iter()
            .enumerate()
            .filter(|(_, c)| c.next <= from)
            .max_by_key(|(_, c)| c.next)
            .map(|(i, _)| i);
        let i = match best {
            Some(i) => i,
            None => {
                let file = File::open(&self.spilled.path).map_err(|e| spill_error("opening", e))?;
                if cursors.len() >= CURSORS {
                    cursors.remove(0);
                }
                cursors.push(Cursor {
                    reader: BufReader::with_capacity(1 << 16, file),
                    line: 0,
                    next: 0,
                });
                cursors.len() - 1
            }
        };
        let Some(cursor) = cursors.get_mut(i) else {
            return Ok(Vec::new());
        };
        let mut changes = Vec::with_capacity(max.min(4096));
        let mut line = String::new();
        while changes.len() < max {
            line.clear();
            if cursor
                .reader
                .read_line(&mut line)
                .map_err(|e| spill_error("reading", e))?
                == 0
            {
                break;
            }
            let number = cursor.line;
            cursor.line += 1;
            if SpillSink::is_retracted(&self.spilled.retracted, number) {
                continue;
            }
            let at = cursor.next;
            cursor.next += 1;
            // Lines before `from` are skipped undecoded.
            if at >= from {
                let change = serde_json::from_str(&line)
                    .map_err(|e| SpillError(format!("reading the spill file: {e}")))?;
                changes.push(change);
            }
        }
        Ok(changes)
    }
}
