//! The one output format of every bench figure: long CSV rows
//! `case,contender,op,run,metric,value,unit`, the same rows `compare_sftp.sh` writes for the
//! transfers it times itself, so one summariser reads them all.

/// Header line of the CSV.
pub const HEADER: &str = "case,contender,op,run,metric,value,unit";

/// Identifies the rows of one measurement.
pub struct Rows<'a> {
    /// Case number or name, e.g. `3`.
    pub case: &'a str,
    /// Who was measured, e.g. `ringftpd`.
    pub contender: &'a str,
    /// What was measured, e.g. `get-100x10MiB`.
    pub op: &'a str,
    /// Run number (1-based).
    pub run: u32,
}

impl Rows<'_> {
    /// Prints one row on stdout.
    pub fn emit(&self, metric: &str, value: f64, unit: &str) {
        println!("{}", self.row(metric, value, unit));
    }

    fn row(&self, metric: &str, value: f64, unit: &str) -> String {
        let v = if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{value:.0}")
        } else {
            format!("{value:.3}")
        };
        format!(
            "{},{},{},{},{metric},{v},{unit}",
            self.case, self.contender, self.op, self.run
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rows() {
        let r = Rows {
            case: "3",
            contender: "vsftpd",
            op: "get",
            run: 2,
        };
        assert_eq!(r.row("bytes", 1024.0, "B"), "3,vsftpd,get,2,bytes,1024,B");
        assert_eq!(
            r.row("mib_s", 12.34567, "MiB/s"),
            "3,vsftpd,get,2,mib_s,12.346,MiB/s"
        );
        assert_eq!(
            HEADER.split(',').count(),
            r.row("x", 1.0, "u").split(',').count()
        );
    }
}
