use std::process::ExitCode;

fn main() -> ExitCode {
    match seglens::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seglens: {}", seglens::cli::error_line(&e));
            ExitCode::from(seglens::cli::exit_code(&e))
        }
    }
}
