//! The two kinds of failure the exit status tells apart.

use std::fmt;

/// Bad usage or bad input: exit status 2. The message names the flag, file, line or field.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Shorthand for a bad-input error.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.into()))
}

/// A regex error on one line: syntax errors draw the pattern with a caret over several lines,
/// and their last line says what is wrong.
pub(crate) fn regex_error_line(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A closed stdout (`loopwise analyze | head`) is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_errors_fit_on_one_line() {
        // Built at run time, or clippy rejects the deliberately broken pattern.
        let unclosed = String::from("(");
        let error = regex::Regex::new(&unclosed).unwrap_err();
        assert_eq!(regex_error_line(&error), "unclosed group");
        let error = regex::Regex::new("a{99999999}").unwrap_err();
        assert!(!regex_error_line(&error).contains('\n'));
    }
}
