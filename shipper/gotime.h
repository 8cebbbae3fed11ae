/*
 * Go time layouts and IANA time zones, for the `timestamp` stage.
 *
 * Parses text the way Go's time.Parse / time.ParseInLocation do (layouts
 * written on the reference time "Mon Jan 2 15:04:05 -0700 MST 2006",
 * including fractional seconds .000/.999/,000, zone offsets Z07:00 -0700
 * -07 and zone abbreviations MST), plus Promtail's named formats (ANSIC ...
 * RFC3339Nano, Unix, UnixMs, UnixUs, UnixNs) and its rule for layouts
 * without a year (the current year, adjusted across New Year's Eve).
 *
 * Zones are read from the system's tz database (TZif files under
 * $ZONEINFO or /usr/share/zoneinfo, including the POSIX TZ rule in the
 * footer for times after the last listed transition) by this module: no
 * setenv/tzset/localtime, so any thread may parse with any zone at once.
 *
 * Zones and compiled formats are immutable once built and may be shared
 * between threads; parsing allocates nothing.
 */
#ifndef NOA_SHIPPER_GOTIME_H
#define NOA_SHIPPER_GOTIME_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* A loaded time zone (Go's *time.Location). */
struct noa_gotime_zone;

/*
 * Loads a zone by IANA name ("Europe/Paris"), "UTC" (or ""), or "Local"
 * (the TZ environment variable, else /etc/localtime, else UTC), as Go's
 * time.LoadLocation. Returns 0, or NOA_EINVAL with err "unknown time zone
 * X" (no such file, a bad name) or "invalid time zone file X".
 */
int noa_gotime_zone_load(const char *name, struct noa_gotime_zone **out, struct noa_error *err);
/* NULL is a no-op. */
void noa_gotime_zone_free(struct noa_gotime_zone *z);
/* The zone's UTC offset in seconds at Unix time sec, and its abbreviation
 * (borrowed from z; may be NULL). NULL z is UTC. */
int noa_gotime_zone_offset(const struct noa_gotime_zone *z, int64_t sec, const char **abbr);

/*
 * Go's time.ParseInLocation(layout, value, loc) (loc NULL: time.Parse, UTC
 * default). On success stores Unix nanoseconds in *out_ns and returns 0;
 * returns NOA_EINVAL when the value does not match the layout, a field is
 * out of range, or the time does not fit int64 nanoseconds (years 1678 to
 * 2262). Without a year in the layout the year is 0, as in Go.
 */
int noa_gotime_parse_layout(const char *layout, size_t layout_len, const char *value,
                            size_t value_len, const struct noa_gotime_zone *loc, int64_t *out_ns);

/* A compiled Promtail timestamp format: a named one or a Go layout. */
struct noa_gotime_format;

/*
 * Compiles format (a name Promtail knows, else a Go layout) to parse in
 * loc (borrowed; must outlive the format; NULL: UTC). Returns 0 or
 * NOA_EINVAL (empty format).
 */
int noa_gotime_format_new(const char *format, const struct noa_gotime_zone *loc,
                          struct noa_gotime_format **out, struct noa_error *err);
void noa_gotime_format_free(struct noa_gotime_format *f);

/*
 * Parses value with the format as Promtail's timestamp stage does. now_ns
 * is the current wall time, used only by layouts without a year ("06" or
 * "2006" absent): the parsed date gets the current year, the previous one
 * for a December date parsed in January, the next one for a January date
 * parsed in December. Returns 0 and *out_ns, or NOA_EINVAL.
 */
int noa_gotime_parse(const struct noa_gotime_format *f, const char *value, size_t len,
                     int64_t now_ns, int64_t *out_ns);

#endif
