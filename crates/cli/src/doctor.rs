//! `trustyconvert doctor`: which conversion engines this machine has, their versions,
//! and how to install the missing ones. Probes exactly as `serve` does at startup.

use clap::Args;
use trustyconvert_convert::{probe_engines, EngineSettings, Format, LibreOfficeSetting};

/// Where the engines are; shared by `serve` and `doctor`.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// LibreOffice for office documents: `auto` (look for soffice on the PATH), `off`,
    /// or the program's path.
    #[arg(long, env = "TRUSTY_LIBREOFFICE", default_value = "auto")]
    pub libreoffice: LibreOfficeSetting,
}

/// Prints one block per engine: found or missing, version, detail, what it offers.
pub async fn run(args: EngineArgs) -> Result<(), String> {
    let settings = EngineSettings {
        libreoffice: args.libreoffice,
        ..EngineSettings::default()
    };
    let engines = tokio::task::spawn_blocking(move || probe_engines(&settings))
        .await
        .map_err(|_| "probing the engines crashed".to_owned())?;
    println!("Conversion engines:");
    for report in engines.reports() {
        println!();
        match &report.version {
            Some(version) => println!("{}: found, version {version}", report.name),
            None => println!("{}: missing", report.name),
        }
        println!("  {}", report.detail);
        if report.found() {
            println!("  offers: {}", report.offers.join(", "));
        }
    }
    println!();
    println!("Conversions offered:");
    for offer in engines.offers() {
        let names = |formats: &[Format]| {
            formats
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  {:<12} {} → {}",
            offer.id,
            names(offer.inputs),
            names(offer.outputs)
        );
    }
    Ok(())
}
