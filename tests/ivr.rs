//! Every flow shipped under `config/` parses and validates against the
//! shipped prompts and configuration, so the default flow can never rot.

use std::path::Path;

use hotline::config::parse_str;
use hotline::ivr::registry::load_checked;
use hotline::ivr::FlowPaths;

#[test]
fn every_shipped_flow_validates_with_the_shipped_prompts() {
    // Each flow is checked against the configuration that names it (the
    // second SLA table's flow goes with config/sla-urgent.toml).
    let configs: Vec<hotline::config::Config> = std::fs::read_dir("config")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("ivr"))
        .map(|p| parse_str(&std::fs::read_to_string(&p).unwrap(), &p).unwrap())
        .collect();
    let mut checked = 0;
    for entry in std::fs::read_dir("config").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("ivr") && name.ends_with(".toml")) {
            continue;
        }
        let paths = FlowPaths::new(path.clone(), "prompts");
        let config = configs
            .iter()
            .find(|c| Path::new(&c.ivr.flow) == path)
            .unwrap_or_else(|| panic!("no file under config/ uses {name}"));
        match load_checked(&paths, config) {
            Ok(loaded) => {
                assert!(loaded.version().starts_with("default-2+") || name != "ivr.toml");
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
