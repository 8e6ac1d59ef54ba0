//! Sync order (`spec.dependsOn`) as plain data: which order `shopsync run` runs syncs in, which dependency
//! graphs are invalid, and whether a sync may run now given its dependencies' latest runs (the controller's
//! decision, made here so that it is tested with plain values).
use std::collections::{BTreeMap, BTreeSet};

/// What is wrong with a set of syncs' dependencies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// A sync depends on a name no sync has.
    #[error(
        "sync {sync:?} depends on {missing:?}, which is not a ShopifySync in the same namespace"
    )]
    Unknown {
        /// The depending sync.
        sync: String,
        /// The name it gave.
        missing: String,
    },
    /// The dependencies form a cycle, so none of its syncs could ever run.
    #[error("dependency cycle: {}", path.join(" -> "))]
    Cycle {
        /// The syncs on the cycle, the first repeated at the end.
        path: Vec<String>,
    },
}

/// One sync's name and the names it depends on.
pub type Node<'a> = (&'a str, &'a [String]);

/// The indexes of `nodes` in an order where every sync comes after the syncs it depends on; among syncs free to
/// go, the given order is kept. A dependency on itself is a cycle.
pub fn run_order(nodes: &[Node<'_>]) -> Result<Vec<usize>, OrderError> {
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    for (name, deps) in nodes {
        if let Some(missing) = deps.iter().find(|d| !index.contains_key(d.as_str())) {
            return Err(OrderError::Unknown {
                sync: name.to_string(),
                missing: missing.clone(),
            });
        }
    }
    if let Some(path) = find_cycle(nodes, &index) {
        return Err(OrderError::Cycle { path });
    }
    let mut done = BTreeSet::new();
    let mut order = Vec::with_capacity(nodes.len());
    // Without a cycle, every pass places at least one sync.
    while order.len() < nodes.len() {
        for (i, (_, deps)) in nodes.iter().enumerate() {
            if !done.contains(&i) && deps.iter().all(|d| done.contains(&index[d.as_str()])) {
                done.insert(i);
                order.push(i);
            }
        }
    }
    Ok(order)
}

/// A cycle among `nodes`, if there is one (dependencies on unknown names are ignored here).
fn find_cycle(nodes: &[Node<'_>], index: &BTreeMap<&str, usize>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Closed,
    }
    fn visit(
        i: usize,
        nodes: &[Node<'_>],
        index: &BTreeMap<&str, usize>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        marks[i] = Mark::Open;
        stack.push(i);
        for d in nodes[i].1 {
            let Some(&j) = index.get(d.as_str()) else {
                continue;
            };
            match marks[j] {
                Mark::Open => {
                    let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                    let mut path: Vec<String> = stack[from..]
                        .iter()
                        .map(|&k| nodes[k].0.to_string())
                        .collect();
                    path.push(nodes[j].0.to_string());
                    return Some(path);
                }
                Mark::New => {
                    if let Some(p) = visit(j, nodes, index, marks, stack) {
                        return Some(p);
                    }
                }
                Mark::Closed => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Closed;
        None
    }
    let mut marks = vec![Mark::New; nodes.len()];
    (0..nodes.len()).find_map(|i| {
        (marks[i] == Mark::New)
            .then(|| visit(i, nodes, index, &mut marks, &mut Vec::new()))
            .flatten()
    })
}

/// A dependency's latest run, as its status or the state shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatestRun {
    /// No run yet.
    None,
    /// A run is in progress.
    Running,
    /// The latest run finished; rejected rows do not make it a failure.
    Finished,
    /// The latest run failed as a whole.
    Failed,
}

/// Whether a sync may run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Every dependency finished its latest run without failure.
    Open,
    /// Not yet: a dependency has not run, is running, failed its latest run or does not exist (yet). The message
    /// names each.
    Wait(String),
    /// Never, until the spec changes: the dependencies form a cycle.
    Stalled(String),
}

/// Decides whether `sync` may run: `syncs` are the syncs of its namespace with what each depends on and its
/// latest run (the sync itself among them).
pub fn may_run(sync: &str, syncs: &[(String, Vec<String>, LatestRun)]) -> Gate {
    let nodes: Vec<Node<'_>> = syncs
        .iter()
        .map(|(n, d, _)| (n.as_str(), d.as_slice()))
        .collect();
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    let Some(&me) = index.get(sync) else {
        return Gate::Open;
    };
    // Only a cycle among this sync and what it depends on, directly or not, holds it back for good.
    let reachable: Vec<Node<'_>> = reachable(&nodes, &index, me)
        .into_iter()
        .map(|i| nodes[i])
        .collect();
    let sub: BTreeMap<&str, usize> = reachable
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    if let Some(path) = find_cycle(&reachable, &sub) {
        return Gate::Stalled(format!("dependency cycle: {}", path.join(" -> ")));
    }
    let waiting: Vec<String> = syncs[me]
        .1
        .iter()
        .filter_map(|dep| match index.get(dep.as_str()).map(|&j| syncs[j].2) {
            None => Some(format!("{dep} does not exist")),
            Some(LatestRun::None) => Some(format!("{dep} has not run yet")),
            Some(LatestRun::Running) => Some(format!("{dep} is running")),
            Some(LatestRun::Failed) => Some(format!("{dep} failed its latest run")),
            Some(LatestRun::Finished) => None,
        })
        .collect();
    if waiting.is_empty() {
        Gate::Open
    } else {
        Gate::Wait(format!("waiting for dependencies: {}", waiting.join("; ")))
    }
}

/// `from` and every sync it depends on, directly or not, in a stable order.
fn reachable(nodes: &[Node<'_>], index: &BTreeMap<&str, usize>, from: usize) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from];
    while let Some(i) = todo.pop() {
        if seen.insert(i) {
            todo.extend(
                nodes[i]
                    .1
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied()),
            );
        }
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dependencies_run_first_and_the_given_order_is_kept_otherwise() {
        let (a, b, c, d) = (
            deps(&["products"]),
            deps(&[]),
            deps(&["inventory-items"]),
            deps(&[]),
        );
        let nodes: Vec<Node<'_>> = vec![
            ("inventory-items", &a),
            ("products", &b),
            ("inventory-levels", &c),
            ("customers", &d),
        ];
        assert_eq!(run_order(&nodes).unwrap(), vec![1, 3, 0, 2]);
    }

    #[test]
    fn unknown_names_and_cycles_are_errors() {
        let x = deps(&["nope"]);
        let e = run_order(&[("a", &x)]).unwrap_err();
        assert_eq!(
            e,
            OrderError::Unknown {
                sync: "a".into(),
                missing: "nope".into()
            }
        );
        let (a, b, c) = (deps(&["b"]), deps(&["c"]), deps(&["a"]));
        let e = run_order(&[("a", &a), ("b", &b), ("c", &c)]).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: a -> b -> c -> a");
        let me = deps(&["a"]);
        assert!(matches!(
            run_order(&[("a", &me)]),
            Err(OrderError::Cycle { .. })
        ));
    }

    fn sync(name: &str, on: &[&str], latest: LatestRun) -> (String, Vec<String>, LatestRun) {
        (name.into(), deps(on), latest)
    }

    #[test]
    fn a_sync_runs_once_every_dependency_finished_without_failure() {
        let all = |p: LatestRun| {
            vec![
                sync("products", &[], p),
                sync("levels", &["products"], LatestRun::None),
            ]
        };
        assert_eq!(may_run("levels", &all(LatestRun::Finished)), Gate::Open);
        for (latest, says) in [
            (LatestRun::None, "products has not run yet"),
            (LatestRun::Running, "products is running"),
            (LatestRun::Failed, "products failed its latest run"),
        ] {
            match may_run("levels", &all(latest)) {
                Gate::Wait(m) => assert!(m.contains(says), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        // Without dependencies, nothing waits.
        assert_eq!(may_run("products", &all(LatestRun::Failed)), Gate::Open);
        match may_run("x", &[sync("x", &["gone"], LatestRun::None)]) {
            Gate::Wait(m) => assert!(m.contains("gone does not exist"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cycle_stalls_its_syncs_and_those_behind_it_only() {
        let syncs = vec![
            sync("a", &["b"], LatestRun::Finished),
            sync("b", &["a"], LatestRun::Finished),
            sync("c", &["a"], LatestRun::None),
            sync("d", &[], LatestRun::None),
        ];
        for s in ["a", "b", "c"] {
            assert!(matches!(may_run(s, &syncs), Gate::Stalled(_)), "{s}");
        }
        assert_eq!(may_run("d", &syncs), Gate::Open);
    }
}
