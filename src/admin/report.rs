//! `GET /api/report` (the desk's key figures, JSON or CSV) and
//! `GET /api/report/sample` (the quality-control draw): the same as
//! `hotline report` and `hotline report sample`, with the daemon's
//! configured targets. Every mistake is a 400 naming the parameter.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::error::AdminError;
use super::params::Pairs;
use super::AdminState;
use crate::report::period::{self, End};
use crate::report::{self, render, sample, Dimension, ReportError};

fn pairs(q: Result<Query<Pairs>, QueryRejection>, known: &[&str]) -> Result<Pairs, AdminError> {
    let pairs = q
        .map(|Query(p)| p)
        .map_err(|e| AdminError::param("query", e.body_text()))?;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(AdminError::param(
            "query",
            format!(
                "unknown parameter `{k}`; this route takes {}",
                known.join(", ")
            ),
        ));
    }
    Ok(pairs)
}

fn value<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn from_report(e: ReportError) -> AdminError {
    match e {
        ReportError::Db(d) => d.into(),
        ReportError::Period(period::PeriodError::Date { name, value }) => AdminError::param(
            if name == "from" { "from" } else { "to" },
            format!("`{value}`: use YYYY-MM-DD or RFC 3339 like 2026-11-23T09:00:00Z"),
        ),
        ReportError::Period(p) => AdminError::param("to", p.to_string()),
        ReportError::Dimension(d) => AdminError::param(
            "by",
            format!("`{d}`: use agent, tier, severity or category"),
        ),
    }
}

fn span(pairs: &Pairs) -> Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>), AdminError> {
    let now = Utc::now();
    let (from, to) = (value(pairs, "from"), value(pairs, "to"));
    // Check each end alone first, so the error names the right one.
    if let Some(f) = from {
        period::parse("from", f, End::Start).map_err(|e| from_report(e.into()))?;
    }
    period::period(from, to, now).map_err(|e| from_report(e.into()))
}

/// `GET /api/report?from=&to=&by=&format=json|csv`.
pub async fn figures(
    State(s): State<AdminState>,
    q: Result<Query<Pairs>, QueryRejection>,
) -> Result<Response, AdminError> {
    let pairs = pairs(q, &["from", "to", "by", "format"])?;
    let (from, to) = span(&pairs)?;
    let by = value(&pairs, "by")
        .map(str::parse::<Dimension>)
        .transpose()
        .map_err(from_report)?;
    let csv = match value(&pairs, "format").map(str::trim) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(AdminError::param(
                "format",
                format!("`{other}`: use json or csv"),
            ))
        }
    };
    let query = report::Query {
        from,
        to,
        by,
        now: Utc::now(),
    };
    let (r, _) = report::build(s.store.pool(), &query, &s.report)
        .await
        .map_err(from_report)?;
    Ok(if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            render::csv(&r),
        )
            .into_response()
    } else {
        Json(r).into_response()
    })
}

/// `GET /api/report/sample?from=&to=&seed=`: without a seed, a fresh one
/// (in the answer, so the draw can be repeated).
pub async fn sample(
    State(s): State<AdminState>,
    q: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<sample::Sample>, AdminError> {
    let pairs = pairs(q, &["from", "to", "seed"])?;
    let (from, to) = span(&pairs)?;
    let seed = match value(&pairs, "seed") {
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            AdminError::param("seed", format!("`{v}` is not a whole number from 0"))
        })?,
        None => rand::random::<u32>() as u64,
    };
    let drawn = sample::draw(
        s.store.pool(),
        from,
        to,
        seed,
        s.report.sample_calls,
        s.report.sample_tickets,
    )
    .await?;
    Ok(Json(drawn))
}
