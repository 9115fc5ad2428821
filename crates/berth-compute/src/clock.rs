//! The service's clock: microseconds since the Unix epoch (berth-time's
//! one representation, as every time column stores it).

pub(crate) fn now_us() -> i64 {
    berth_time::now()
}
