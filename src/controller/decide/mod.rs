//! Reconcile as decide + act: the decisions of both reconcilers as pure functions of plain data.
//!
//! The act layer ([`super::sync`], [`super::destination`]) gathers what the controller observed (the resource,
//! the clock reading, facts it had to look up: a fresh read, dependencies, the ledger, the destination, alert
//! evaluations, a run's report), calls a function here, and carries out the [`Outcome`] it returns: the status
//! to write, the Events to publish, when to look again. Nothing here is async, calls the API or reads the clock,
//! so every decision is tested with plain values (`tests/controller_decide.rs`, with proptest over random
//! observations), the way linkerd's policy controller and kube-runtime's finalizer state machine are built.
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};

pub mod destination;
pub mod sync;

/// An Event to publish, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// A Warning rather than a Normal event.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: String,
    /// What the controller was doing (`Run`, `Validate`, `Alert`, …).
    pub action: &'static str,
    /// The note, already cut to the size the API takes.
    pub note: String,
}

impl Note {
    /// A Warning event.
    pub fn warning(reason: &str, action: &'static str, note: String) -> Note {
        Note {
            warning: true,
            reason: reason.to_string(),
            action,
            note,
        }
    }

    /// A Normal event.
    pub fn normal(reason: &str, action: &'static str, note: String) -> Note {
        Note {
            warning: false,
            ..Note::warning(reason, action, note)
        }
    }

    /// The Event the recorder publishes.
    pub fn event(&self) -> Event {
        Event {
            type_: if self.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: self.reason.clone(),
            note: Some(self.note.clone()),
            action: self.action.into(),
            secondary: None,
        }
    }
}

/// When to look at an object again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Only when it (or something watched for it) changes.
    OnChange,
    /// At this instant; never before the clock reading the decision was made at.
    At(DateTime<Utc>),
    /// After this long (something outside may have changed by then).
    After(Duration),
}

impl Requeue {
    /// The controller's action, `now` being the clock reading when it is carried out. An instant is rounded up
    /// to whole seconds: never early, never zero.
    pub fn action(self, now: DateTime<Utc>) -> Action {
        match self {
            Requeue::OnChange => Action::await_change(),
            Requeue::After(d) => Action::requeue(d),
            Requeue::At(at) => {
                let millis = (at - now).num_milliseconds().max(0) as u64;
                Action::requeue(Duration::from_secs(millis.div_ceil(1000).max(1)))
            }
        }
    }
}

/// What to carry out: Events about alert evaluations already made, the status, Events about it, the requeue.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<S> {
    /// Events saying what alert evaluations did; published first, as they happened before the status.
    pub alert_notes: Vec<Note>,
    /// The status to write; `None` when the object already carries it (a settled object costs no write, so
    /// no watch event, so no hot loop).
    pub status: Option<S>,
    /// Events published after the status write.
    pub notes: Vec<Note>,
    /// When to look again.
    pub requeue: Requeue,
}

impl<S: PartialEq> Outcome<S> {
    /// Writes `next` unless it equals `prev`; `notes` are said only when it is written (once per change).
    pub fn write_once(prev: &S, next: S, notes: Vec<Note>, requeue: Requeue) -> Outcome<S> {
        let changed = &next != prev;
        Outcome {
            alert_notes: Vec::new(),
            status: changed.then_some(next),
            notes: if changed { notes } else { Vec::new() },
            requeue,
        }
    }
}

/// Event notes are limited to 1 kB: cut on a char boundary, marked with an ellipsis.
pub fn truncate(s: &str) -> String {
    if s.len() <= 1000 {
        return s.to_string();
    }
    let mut cut = 1000;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// The earlier of two optional instants.
pub fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
