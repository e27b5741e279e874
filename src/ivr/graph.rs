//! The flow as a graph of steps: which steps a call can reach, and which
//! cycles never stop to wait for the caller. Used by validation.

use std::collections::{HashMap, HashSet, VecDeque};

use super::flow::Flow;

/// Steps no path from `start` leads to, in name order.
pub fn unreachable(flow: &Flow) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut todo: VecDeque<&str> = VecDeque::from([flow.start.as_str()]);
    while let Some(name) = todo.pop_front() {
        let Some(step) = flow.steps.get(name) else {
            continue;
        };
        if seen.insert(name) {
            todo.extend(step.next_refs().into_iter().map(|(_, t)| t));
        }
    }
    flow.steps
        .keys()
        .filter(|n| !seen.contains(n.as_str()))
        .cloned()
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    New,
    Active,
    Done,
}

/// Cycles made only of steps that do not wait for the caller (a call in
/// one would spin forever): each found once, by depth-first search over
/// those steps, as the list of step names around the cycle.
pub fn busy_cycles(flow: &Flow) -> Vec<Vec<String>> {
    let mut mark: HashMap<&str, Mark> =
        flow.steps.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut found = Vec::new();
    for (name, step) in &flow.steps {
        if !step.waits_for_input() && mark[name.as_str()] == Mark::New {
            visit(flow, name, &mut mark, &mut Vec::new(), &mut found);
        }
    }
    found
}

fn visit<'a>(
    flow: &'a Flow,
    n: &'a str,
    mark: &mut HashMap<&'a str, Mark>,
    path: &mut Vec<&'a str>,
    found: &mut Vec<Vec<String>>,
) {
    mark.insert(n, Mark::Active);
    path.push(n);
    for (_, t) in flow.steps[n].next_refs() {
        match flow.steps.get(t) {
            Some(step) if !step.waits_for_input() => {}
            _ => continue,
        }
        match mark.get(t).copied() {
            Some(Mark::Active) => {
                let from = path.iter().position(|p| *p == t).unwrap_or(0);
                found.push(path[from..].iter().map(|s| s.to_string()).collect());
            }
            Some(Mark::New) => visit(flow, t, mark, path, found),
            _ => {}
        }
    }
    path.pop();
    mark.insert(n, Mark::Done);
}
