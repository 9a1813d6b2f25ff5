//! Versions and version ranges: a tool's `version` is one exact version or a range
//! (`>=2025.9`, `>=1.2,<2`) that conda and pip understand. Comparison is by dotted segments,
//! numbers numerically and words by text, which orders conda and PEP 440 release numbers alike.

use std::cmp::Ordering;

/// The comparison operators a range clause may start with, longest first.
const OPERATORS: [&str; 7] = [">=", "<=", "==", "!=", "~=", ">", "<"];

/// Whether a tool's version is a range rather than one exact version.
pub fn is_range(version: &str) -> bool {
    version.starts_with(['>', '<', '=', '!', '~'])
}

/// The clauses of a range: `(operator, version)`, or `None` when one does not parse.
pub fn clauses(range: &str) -> Option<Vec<(&str, &str)>> {
    range
        .split(',')
        .map(|c| {
            let c = c.trim();
            let op = OPERATORS.iter().find(|op| c.starts_with(**op))?;
            let v = c[op.len()..].trim();
            (!v.is_empty()).then_some((*op, v))
        })
        .collect()
}

fn segments(v: &str) -> Vec<&str> {
    v.split(['.', '-', '_', '+'])
        .filter(|s| !s.is_empty())
        .collect()
}

/// Compare two versions segment by segment; a missing segment counts as `0`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (segments(a), segments(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or("0"),
            b.get(i).copied().unwrap_or("0"),
        );
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Whether an exact version lies within a range; `None` when the range does not parse.
pub fn satisfies(version: &str, range: &str) -> Option<bool> {
    let clauses = clauses(range)?;
    Some(clauses.iter().all(|(op, bound)| {
        let o = compare(version, bound);
        match *op {
            ">=" => o != Ordering::Less,
            "<=" => o != Ordering::Greater,
            ">" => o == Ordering::Greater,
            "<" => o == Ordering::Less,
            "==" => {
                o == Ordering::Equal
                    || bound.ends_with('*')
                        && version.starts_with(bound.trim_end_matches(['*', '.']))
            }
            "!=" => o != Ordering::Equal,
            // `~=X.Y`: at least X.Y, and the same X.
            _ => {
                let prefix: Vec<&str> = segments(bound);
                let keep = prefix.len().saturating_sub(1).max(1);
                o != Ordering::Less
                    && segments(version)
                        .iter()
                        .take(keep)
                        .eq(prefix.iter().take(keep))
            }
        }
    }))
}

/// The requirement a package installer is given: `name=version` for conda, `name==version`
/// for pip, or the range itself after the name (`name>=2025.9`), which both understand.
pub fn requirement(name: &str, version: &str, exact_operator: &str) -> String {
    if is_range(version) {
        // conda reads a blank as the start of a build string: clauses are joined without one.
        let clauses: String = version.chars().filter(|c| !c.is_whitespace()).collect();
        format!("{name}{clauses}")
    } else {
        format!("{name}{exact_operator}{version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_their_bounds() {
        assert!(is_range(">=2025.9") && !is_range("2025.9"));
        assert_eq!(clauses(">=1.2, <2"), Some(vec![(">=", "1.2"), ("<", "2")]));
        assert_eq!(clauses(">=1.2,2"), None);
        assert_eq!(clauses(">="), None);
        assert_eq!(compare("6.10", "6.9"), Ordering::Greater);
        assert_eq!(compare("2025.09.1", "2025.9"), Ordering::Greater);
        assert_eq!(compare("1.0", "1"), Ordering::Equal);
        assert_eq!(satisfies("2025.9.1", ">=2025.9"), Some(true));
        assert_eq!(satisfies("2025.3", ">=2025.9"), Some(false));
        assert_eq!(satisfies("2.0", ">=1.2,<2"), Some(false));
        assert_eq!(satisfies("1.9.9", ">=1.2,<2"), Some(true));
        assert_eq!(satisfies("1.2", ">1.2"), Some(false));
        assert_eq!(satisfies("1.2", "<=1.2"), Some(true));
        assert_eq!(satisfies("1.3", "!=1.2"), Some(true));
        assert_eq!(satisfies("1.2", "!=1.2"), Some(false));
        assert_eq!(satisfies("1.4.2", "~=1.4"), Some(true));
        assert_eq!(satisfies("2.0", "~=1.4"), Some(false));
        assert_eq!(satisfies("1.3", "~=1.4"), Some(false));
        assert_eq!(satisfies("1.4.7", "==1.4.*"), Some(true));
        assert_eq!(satisfies("1.5", "==1.4.*"), Some(false));
        // Each operator on its own (a missing arm would fall to another operator's rule).
        assert_eq!(satisfies("2.0", ">=1.4"), Some(true));
        assert_eq!(satisfies("0.5", "<=1.2"), Some(true));
        assert_eq!(satisfies("1.3", "==1.2"), Some(false));
        assert_eq!(satisfies("1.2", "==1.2"), Some(true));
        assert_eq!(requirement("rdkit", ">=2025.9", "="), "rdkit>=2025.9");
        assert_eq!(requirement("rdkit", ">=1.0, <2", "="), "rdkit>=1.0,<2");
        assert_eq!(requirement("rdkit", "2025.9.1", "=="), "rdkit==2025.9.1");
    }
}
