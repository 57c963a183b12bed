//! `trustyconvert formats`: the conversions the server performs.

use crate::session_cmd::describe;
use crate::target::{OptionalServerArg, Target};

/// Prints every format group.
pub async fn run(arg: OptionalServerArg) -> Result<(), String> {
    let target = Target::connect(&arg).await?;
    let groups = target
        .manager
        .api()
        .formats()
        .await
        .map_err(|e| describe(&e, &target.label));
    let label = target.label.clone();
    target.finish().await?;
    let groups = groups?;
    println!("Conversions available from {label}:");
    for group in groups {
        println!();
        println!("{} — {}", group.name, group.description);
        println!("  from: {}", group.input_formats.join(", "));
        println!("  to:   {}", group.output_formats.join(", "));
        println!("  max size: {} bytes", group.max_size);
    }
    Ok(())
}
