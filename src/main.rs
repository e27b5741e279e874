//! The `hotline` binary: parse the command line, set up logging and the
//! runtime, dispatch to [`cli`]. Everything else lives in the library and
//! in `cli/`.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod demo;

/// Logs on stderr. On a terminal: coloured text. Not on a terminal: plain
/// text (no ANSI escapes in files or the journal). Under systemd
/// (`$JOURNAL_STREAM`): no timestamp (journald stamps each line) and each
/// line starts with its syslog priority (`<3>` error ... `<7>` debug), so
/// `journalctl -p warning` works. `HOTLINE_LOG_FORMAT=json`: one JSON
/// object a line for log shippers. `HOTLINE_LOG` is the filter.
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::fmt::format::{Format, Writer};
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
    use tracing_subscriber::registry::LookupSpan;

    struct Priority<F>(F);
    impl<S, N, F> FormatEvent<S, N> for Priority<F>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
        F: FormatEvent<S, N>,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &tracing::Event<'_>,
        ) -> std::fmt::Result {
            let p = match *event.metadata().level() {
                tracing::Level::ERROR => 3,
                tracing::Level::WARN => 4,
                tracing::Level::INFO => 6,
                _ => 7,
            };
            write!(writer, "<{p}>")?;
            self.0.format_event(ctx, writer, event)
        }
    }

    let filter = tracing_subscriber::EnvFilter::try_from_env("HOTLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let terminal = std::io::stderr().is_terminal();
    let journal = !terminal && std::env::var_os("JOURNAL_STREAM").is_some();
    let json = std::env::var("HOTLINE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    if json {
        builder.json().init();
    } else if journal {
        builder
            .event_format(Priority(Format::default().without_time()))
            .init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    // Before any thread exists: it edits the environment.
    cli::systemd::take_socket();
    let cli = cli::Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hotline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
