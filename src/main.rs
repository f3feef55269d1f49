use std::process::ExitCode;

fn main() -> ExitCode {
    match seglens::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = seglens::cli::exit_code(&e);
            eprintln!("seglens: {e:#}");
            ExitCode::from(code)
        }
    }
}
