//! "did you mean `image`?": the closest known name to a misspelt one, if it is close enough to
//! be a typo rather than a different word.

/// The candidate nearest to `name` by edit distance, when at most a third of it differs.
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// `Some("did you mean `x`?")` when there is a near candidate.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn join_or<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} or {}", rest.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested_and_far_ones_are_not() {
        let names = ["image", "subnet", "instance_types"];
        assert_eq!(suggest("imge", names), Some("image"));
        assert_eq!(suggest("instance_type", names), Some("instance_types"));
        assert_eq!(suggest("zone", names), None);
        assert_eq!(suggest("image", names), None);
    }
}
