//! Every flow shipped under `config/` parses and validates against the
//! shipped prompts and configuration, so the default flow can never rot.

use std::path::{Path, PathBuf};

use hotline::config::parse_str;
use hotline::ivr::registry::load_checked;
use hotline::ivr::FlowPaths;

#[test]
fn every_shipped_flow_validates_with_the_shipped_prompts() {
    let config_text = std::fs::read_to_string("config/hotline.toml").unwrap();
    let config = parse_str(&config_text, Path::new("config/hotline.toml")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir("config").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("ivr") && name.ends_with(".toml")) {
            continue;
        }
        let paths = FlowPaths {
            flow: path.clone(),
            prompts: PathBuf::from("prompts"),
        };
        match load_checked(&paths, &config) {
            Ok(loaded) => {
                assert!(loaded.version().starts_with("default-1+") || name != "ivr.toml");
                assert!(loaded.flow.steps.len() >= 10, "{name}: the whole intake");
            }
            Err(problems) => {
                let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                panic!("{name}:\n{}", lines.join("\n"));
            }
        }
        checked += 1;
    }
    assert!(checked >= 1, "config/ivr.toml at least");
}
