use std::process::ExitCode;

fn main() -> ExitCode {
    match seglens::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seglens: {}", seglens::error::error_line(&e));
            ExitCode::from(seglens::error::exit_code(&e))
        }
    }
}
