//! The operators' simulator: runs the real admission, lanes, pacer and drain meter on a
//! virtual clock over an arrival curve, so settings can be tried on a launch day before
//! they are applied. A simulated day takes seconds.
//!
//! The arrival curve is a CSV of `seconds,per_second` points, linearly interpolated (the
//! header line is optional). Output: one [`Sample`] per simulated minute, written as CSV
//! and drawn as an SVG chart.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use governor::clock::FakeRelativeClock;

use crate::domain::throttle::admission::{Admission, AdmissionSettings, QueueView, Verdict};
use crate::domain::throttle::estimate::{DrainMeter, WaitEstimate, lane_estimate};
use crate::domain::throttle::lanes::{Lane, LaneWeights, Scheduler};
use crate::domain::throttle::pacer::{PaceSettings, Pacer};

/// Arrivals per second over time, piecewise linear.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalCurve {
    points: Vec<(f64, f64)>,
}

/// Why an arrival curve was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CurveError {
    /// A line is not two numbers.
    #[error("line {line}: expected `seconds,per_second`")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// Times must increase and rates be finite and non-negative.
    #[error("line {line}: times must increase and rates be non-negative")]
    Order {
        /// 1-based line number.
        line: usize,
    },
    /// Fewer than two points.
    #[error("an arrival curve needs at least two points")]
    TooShort,
    /// A time before 0 or after a year.
    #[error("line {line}: times run from 0 to 31622400 seconds (a year)")]
    Span {
        /// 1-based line number.
        line: usize,
    },
}

/// The longest curve simulated: a year (of 366 days), in seconds.
const LONGEST_CURVE: f64 = 366.0 * 24.0 * 3600.0;

impl ArrivalCurve {
    /// Reads `seconds,per_second` lines; a first line that is not numeric is a header.
    pub fn parse_csv(text: &str) -> Result<ArrivalCurve, CurveError> {
        let mut points: Vec<(f64, f64)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once(',').and_then(|(t, r)| {
                Some((t.trim().parse::<f64>().ok()?, r.trim().parse::<f64>().ok()?))
            });
            let Some((t, r)) = parsed else {
                if i == 0 {
                    continue;
                }
                return Err(CurveError::Syntax { line: i + 1 });
            };
            let increasing = points.last().is_none_or(|&(last, _)| t > last);
            if !(t.is_finite() && r.is_finite() && r >= 0.0 && increasing) {
                return Err(CurveError::Order { line: i + 1 });
            }
            if !(0.0..=LONGEST_CURVE).contains(&t) {
                return Err(CurveError::Span { line: i + 1 });
            }
            points.push((t, r));
        }
        if points.len() < 2 {
            return Err(CurveError::TooShort);
        }
        Ok(ArrivalCurve { points })
    }

    /// A launch day: `base` arrivals per second, jumping to `spike` × base when applications
    /// open at `opening` seconds and decaying back with the given half-life.
    pub fn launch_day(base: f64, spike: f64, opening: f64, half_life: f64, day: f64) -> Self {
        let mut points = vec![(0.0, base * 0.2), (opening - 1.0, base * 0.2)];
        let mut t = opening;
        while t < day {
            let decay = 0.5f64.powf((t - opening) / half_life);
            points.push((t, base + base * (spike - 1.0) * decay));
            t += 300.0;
        }
        points.push((day, base));
        ArrivalCurve { points }
    }

    /// A curve through `points` (seconds, per second); `None` unless there are at least
    /// two, with increasing times from 0 to a year and finite, non-negative rates.
    pub fn from_points(points: Vec<(f64, f64)>) -> Option<ArrivalCurve> {
        let ordered = points.windows(2).all(|w| w[0].0 < w[1].0);
        let finite = points
            .iter()
            .all(|&(t, r)| (0.0..=LONGEST_CURVE).contains(&t) && r.is_finite() && r >= 0.0);
        (points.len() >= 2 && ordered && finite).then_some(ArrivalCurve { points })
    }

    /// The rate at `t` seconds (0 outside the curve).
    pub fn rate_at(&self, t: f64) -> f64 {
        let i = self.points.partition_point(|&(pt, _)| pt <= t);
        if i == 0 || i == self.points.len() {
            return if i == self.points.len() && t == self.points[i - 1].0 {
                self.points[i - 1].1
            } else {
                0.0
            };
        }
        let (t0, r0) = self.points[i - 1];
        let (t1, r1) = self.points[i];
        r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    }

    /// The last time on the curve, in seconds.
    pub fn end(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0)
    }

    /// The curve as CSV text.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("seconds,per_second\n");
        for (t, r) in &self.points {
            let _ = writeln!(out, "{t},{r}");
        }
        out
    }
}

/// What the simulation runs with.
#[derive(Clone, Debug)]
pub(crate) struct SimSettings {
    /// Admission limits and modes.
    pub admission: AdmissionSettings,
    /// The drain's pace.
    pub drain: PaceSettings,
    /// Lane weights.
    pub weights: LaneWeights,
    /// Share of arrivals per lane (window, reissue, first); need not sum to 1.
    pub lane_mix: [f64; 3],
    /// Number of distinct gateway clients arrivals are spread over.
    pub clients: u32,
    /// Share of arrivals that repeat a licence seen in the last minute (retries, hammering).
    pub repeat_share: f64,
    /// Virtual clock step.
    pub tick: Duration,
}

/// One simulated minute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Start of the minute, seconds.
    pub t: u64,
    /// Applications that arrived.
    pub arrivals: u64,
    /// Admitted into the queue.
    pub admitted: u64,
    /// Refused with 429 (client or licence limit).
    pub refused_429: u64,
    /// Refused with 503 (intake or queue bound).
    pub refused_503: u64,
    /// Refusals computed by shadow-mode limits (admitted anyway).
    pub would_refuse: u64,
    /// Issued (drained).
    pub issued: u64,
    /// Queue depth at the end of the minute.
    pub depth: u64,
    /// Mean midpoint of the waits quoted to arrivals this minute, seconds (if any known).
    pub quoted_wait: Option<f64>,
    /// Mean actual wait of the applications that arrived this minute (and have been issued),
    /// seconds: comparable minute by minute with `quoted_wait`.
    pub actual_wait: Option<f64>,
    /// Measured drain rate at the end of the minute.
    pub measured_rate: Option<f64>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// One sample per minute.
    pub samples: Vec<Sample>,
    /// Issued applications whose quoted range held their actual wait.
    pub quotes_held: u64,
    /// Issued applications that had a known quote.
    pub quotes_known: u64,
    /// Issued applications in all.
    pub issued: u64,
}

/// A chart line: its legend, colour and value per sample.
type Line<T> = (&'static str, plotters::style::RGBColor, fn(&Sample) -> T);

struct Ticket {
    arrived: Duration,
    quote: WaitEstimate,
}

/// Runs the simulation over the whole curve.
pub(crate) fn run(curve: &ArrivalCurve, settings: &SimSettings) -> SimReport {
    let clock = FakeRelativeClock::default();
    let mut admission = Admission::new(settings.admission, clock.clone(), Duration::ZERO);
    let mut pacer = Pacer::new(settings.drain, Duration::ZERO);
    let mut meter = DrainMeter::new();
    let mut lane_meters: [DrainMeter; 3] = Default::default();
    let mut scheduler = Scheduler::default();
    let mut lanes: [VecDeque<Ticket>; 3] = Default::default();
    let mut report = SimReport::default();
    let mut sample = Sample::default();
    let (mut quoted_sum, mut quoted_n) = (0.0f64, 0u64);
    // (sum of actual waits, count) by arrival minute.
    let mut actual_by_arrival: Vec<(f64, u64)> = Vec::new();
    let mut arrival_credit = 0.0f64;
    let mut serial: u64 = 0;
    let mix_total: f64 = settings.lane_mix.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let end = Duration::from_secs_f64(curve.end());
    let mut now = Duration::ZERO;
    // A cheap deterministic generator (SplitMix64) for lanes, clients and repeats.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    while now < end {
        now += settings.tick;
        clock.advance(settings.tick);
        arrival_credit += curve.rate_at(now.as_secs_f64()) * settings.tick.as_secs_f64();
        let depths = [0, 1, 2].map(|i| lanes[i].len() as u64);
        let measured = meter.rate(now).map(|(r, _)| r);
        let view = QueueView {
            depth: depths.iter().sum(),
            drain_rate: measured.unwrap_or(settings.drain.rate),
        };
        while arrival_credit >= 1.0 {
            arrival_credit -= 1.0;
            sample.arrivals += 1;
            let pick = random() * mix_total;
            let lane = if pick < settings.lane_mix[0] {
                Lane::Window
            } else if pick < settings.lane_mix[0] + settings.lane_mix[1] {
                Lane::Reissue
            } else {
                Lane::First
            };
            let client = format!(
                "gateway-{}",
                (random() * f64::from(settings.clients.max(1))) as u32
            );
            let licence = if random() < settings.repeat_share && serial > 0 {
                serial - (random() * (serial.min(1000) as f64)) as u64
            } else {
                serial += 1;
                serial
            };
            let view = QueueView {
                depth: view.depth + depths_added(&lanes, &depths),
                ..view
            };
            let shadowed = match admission.check(now, &client, &licence.to_string(), view) {
                Verdict::Admit { shadowed } => {
                    let ahead = lanes[lane.index()].len() as u64 + 1;
                    let current = [0, 1, 2].map(|i| lanes[i].len() as u64);
                    let share = settings.weights.share(lane, &current);
                    let quote = lane_estimate(
                        &lane_meters[lane.index()],
                        &meter,
                        now,
                        ahead,
                        share,
                        pacer.is_paused(),
                    );
                    if let Some(mid) = quote.midpoint() {
                        quoted_sum += mid.as_secs_f64();
                        quoted_n += 1;
                    }
                    lanes[lane.index()].push_back(Ticket {
                        arrived: now,
                        quote,
                    });
                    sample.admitted += 1;
                    shadowed
                }
                Verdict::Refuse { refusal, shadowed } => {
                    if refusal.limit.status() == 429 {
                        sample.refused_429 += 1;
                    } else {
                        sample.refused_503 += 1;
                    }
                    shadowed
                }
            };
            sample.would_refuse += u64::from(!shadowed.is_empty());
        }
        let depths = [0, 1, 2].map(|i| lanes[i].len() as u64);
        let cells = pacer.take(now, depths.iter().sum());
        let split = scheduler.split(cells, &depths, &settings.weights);
        for lane in Lane::ALL {
            for _ in 0..split[lane.index()] {
                let Some(ticket) = lanes[lane.index()].pop_front() else {
                    break;
                };
                let actual = now - ticket.arrived;
                let minute = (ticket.arrived.as_secs() / 60) as usize;
                if actual_by_arrival.len() <= minute {
                    actual_by_arrival.resize(minute + 1, (0.0, 0));
                }
                actual_by_arrival[minute].0 += actual.as_secs_f64();
                actual_by_arrival[minute].1 += 1;
                sample.issued += 1;
                report.issued += 1;
                if ticket.quote != WaitEstimate::Unknown {
                    report.quotes_known += 1;
                    report.quotes_held += u64::from(ticket.quote.contains(actual));
                }
            }
        }
        let backlogged = lanes.iter().any(|l| !l.is_empty());
        meter.record(now, cells, backlogged);
        for lane in Lane::ALL {
            let i = lane.index();
            lane_meters[i].record(now, split[i], !lanes[i].is_empty());
        }
        if now.as_millis() % 60_000 < settings.tick.as_millis().max(1) || now >= end {
            sample.depth = lanes.iter().map(|l| l.len() as u64).sum();
            sample.quoted_wait = (quoted_n > 0).then(|| quoted_sum / quoted_n as f64);
            sample.measured_rate = meter.rate(now).map(|(r, _)| r);
            let t = sample.t;
            report.samples.push(std::mem::take(&mut sample));
            sample.t = t + 60;
            (quoted_sum, quoted_n) = (0.0, 0);
            admission.purge();
        }
    }
    for (sample, &(sum, n)) in report.samples.iter_mut().zip(&actual_by_arrival) {
        sample.actual_wait = (n > 0).then(|| sum / n as f64);
    }
    report
}

/// Arrivals admitted earlier in the same tick are already in the lanes; the queue view
/// taken at the start of the tick must count them.
fn depths_added(lanes: &[VecDeque<Ticket>; 3], at_start: &[u64; 3]) -> u64 {
    (0..3)
        .map(|i| (lanes[i].len() as u64).saturating_sub(at_start[i]))
        .sum()
}

impl SimReport {
    /// The samples as CSV.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "minute_start_s,arrivals,admitted,refused_429,refused_503,would_refuse,issued,queue_depth,quoted_wait_s,actual_wait_s,measured_rate\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
        for s in &self.samples {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                s.t,
                s.arrivals,
                s.admitted,
                s.refused_429,
                s.refused_503,
                s.would_refuse,
                s.issued,
                s.depth,
                opt(s.quoted_wait),
                opt(s.actual_wait),
                opt(s.measured_rate),
            );
        }
        out
    }

    /// A chart of the run: per-second arrivals, admissions, issuance and refusals on top;
    /// queue depth and quoted-vs-actual wait below.
    pub fn to_svg(&self, title: &str) -> Result<String, String> {
        use plotters::prelude::*;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1200, 900)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let root = root
                .titled(title, ("sans-serif", 24))
                .map_err(|e| e.to_string())?;
            let (top, rest) = root.split_vertically(300);
            let (middle, bottom) = rest.split_vertically(280);
            let hours = |s: &Sample| s.t as f64 / 3600.0;
            let x_max = self.samples.last().map_or(1.0, |s| hours(s).max(0.1));
            let per_second = |v: u64| v as f64 / 60.0;

            let rate_max = self
                .samples
                .iter()
                .map(|s| per_second(s.arrivals))
                .fold(1.0f64, f64::max)
                * 1.05;
            let mut chart = panel(&top, "applications per second", x_max, rate_max)?;
            let series: [Line<u64>; 5] = [
                ("arrivals", BLACK, |s| s.arrivals),
                ("admitted", BLUE, |s| s.admitted),
                ("issued", GREEN, |s| s.issued),
                ("refused 503", RED, |s| s.refused_503),
                ("refused 429", MAGENTA, |s| s.refused_429),
            ];
            for (name, color, value) in series {
                chart
                    .draw_series(LineSeries::new(
                        self.samples
                            .iter()
                            .map(|s| (hours(s), per_second(value(s)))),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            legend(&mut chart)?;

            let depth_max = self
                .samples
                .iter()
                .map(|s| s.depth)
                .max()
                .unwrap_or(1)
                .max(1) as f64
                * 1.05;
            let mut chart = panel(&middle, "queue depth", x_max, depth_max)?;
            chart
                .draw_series(LineSeries::new(
                    self.samples.iter().map(|s| (hours(s), s.depth as f64)),
                    BLUE.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;

            let wait_max = self
                .samples
                .iter()
                .flat_map(|s| [s.quoted_wait, s.actual_wait])
                .flatten()
                .fold(1.0f64, f64::max)
                / 60.0
                * 1.05;
            let mut chart = panel(
                &bottom,
                "wait, minutes, by arrival time: quoted on arrival vs actual",
                x_max,
                wait_max,
            )?;
            let waits: [Line<Option<f64>>; 2] = [
                ("quoted (midpoint)", BLUE, |s| s.quoted_wait),
                ("actual", RED, |s| s.actual_wait),
            ];
            for (name, color, value) in waits {
                chart
                    .draw_series(LineSeries::new(
                        self.samples
                            .iter()
                            .filter_map(|s| value(s).map(|w| (hours(s), w / 60.0))),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            legend(&mut chart)?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(svg)
    }
}

type Chart<'a, DB> = plotters::chart::ChartContext<
    'a,
    DB,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// One chart panel over `hours` on x and 0..`y_max` on y, with its grid drawn.
fn panel<'a, DB: plotters::prelude::DrawingBackend>(
    area: &'a plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_max: f64,
    y_max: f64,
) -> Result<Chart<'a, DB>, String> {
    let mut chart = plotters::prelude::ChartBuilder::on(area)
        .margin(10)
        .caption(caption, ("sans-serif", 18))
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("hours")
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Draws the legend of a panel's labelled series.
fn legend<'a, DB: plotters::prelude::DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
) -> Result<(), String> {
    use plotters::prelude::{BLACK, Color, WHITE};
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
