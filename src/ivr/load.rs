//! Reading a flow file into [`Flow`], with errors naming the step and key.

use std::path::Path;

use super::flow::Flow;
use super::problem::{FlowProblem, IvrError};

/// Read and parse (not yet validate) the flow at `path`.
pub fn load_flow(path: &Path) -> Result<(Flow, String), IvrError> {
    let text = std::fs::read_to_string(path).map_err(|source| IvrError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let flow = parse_flow(&text, path)?;
    Ok((flow, text))
}

/// Parse flow text; `path` names it in errors.
pub fn parse_flow(text: &str, path: &Path) -> Result<Flow, IvrError> {
    let problem = |step: Option<String>, key: String, message: String| IvrError::Invalid {
        problems: vec![FlowProblem {
            file: path.to_path_buf(),
            step,
            key,
            code: "HL-IVR-001",
            message,
        }],
    };
    let value: toml::Value = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
        problem(
            None,
            String::new(),
            format!("{at}not valid TOML: {}", e.message()),
        )
    })?;
    serde_path_to_error::deserialize::<_, Flow>(value).map_err(|e| {
        let segments: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
        let message = e.inner().message().replace("unknown field", "unknown key");
        // `steps.<name>.<key...>`: name the step separately.
        match segments.split_first() {
            Some((first, rest)) if first == "steps" && !rest.is_empty() => {
                problem(Some(rest[0].clone()), rest[1..].join("."), message)
            }
            _ => problem(None, segments.join("."), message),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_in_a_step_names_the_step() {
        let text = "version = \"1\"\nlanguages = [\"en\"]\nstart = \"a\"\n\
                    [steps.a]\nkind = \"hangup\"\nprompt = [\"x\"]\n";
        let err = parse_flow(text, Path::new("ivr.toml")).unwrap_err();
        let p = &err.into_problems()[0];
        assert_eq!(p.code, "HL-IVR-001");
        assert_eq!(p.step.as_deref(), Some("a"));
        assert!(p.message.contains("unknown key `prompt`"), "{}", p.message);
    }

    #[test]
    fn broken_toml_names_the_line() {
        let err = parse_flow("version = \"1\"\nstart = ", Path::new("ivr.toml")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
