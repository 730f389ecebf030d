//! The Khronos validation layer's messages: the one detector that the GPU tests, the soak, the
//! CLI tests and `scripts/test.sh` all use, a logger that captures what it detects, and the same
//! detector over a printed log.
//!
//! With validation on ([`ContextBuilder::validation`](crate::ContextBuilder::validation)), wgpu
//! installs a debug messenger and logs the layer's messages through the `log` crate under
//! [`LAYER_LOG_TARGET`]. A program or test that must not pass when the layer speaks installs
//! [`capture`] as its logger and asks [`take_messages`] or [`message_count`]; a script reads a
//! program's printed log with [`messages_in`] (the `strata-validation-scan` tool of
//! `strata-fuzz`).
//!
//! ```
//! let text = "[ERROR wgpu_hal::vulkan::instance] VALIDATION [VUID-vkCmdDispatch-x (0x1)]\n\
//!             \tValidation Error: [ VUID-vkCmdDispatch-x ] ...\n\
//!             [WARN  wgpu_hal::vulkan::instance] GENERAL [lvp_device.c (0x0)]\n\
//!             \tVK_ERROR_OUT_OF_DEVICE_MEMORY\n";
//! let found = strata::validation::messages_in(text);
//! assert_eq!(found.len(), 1);
//! assert!(found[0].contains("VUID-vkCmdDispatch-x"));
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The log target under which wgpu logs what the Vulkan debug messenger receives.
pub const LAYER_LOG_TARGET: &str = "wgpu_hal::vulkan::instance";

/// `true` when a log record (its `target` and its message) is the validation layer reporting on
/// API usage: logged under [`LAYER_LOG_TARGET`], of type VALIDATION or PERFORMANCE.
///
/// Driver and loader chatter (type GENERAL, such as a CPU driver noting an allocation it
/// refused), the context lines that follow a message (they start with a tab) and one known
/// false positive of old layers are not: Debian 12's layer (1.3.239) rejects the SPIR-V
/// source-language id naga writes for WGSL ("Invalid source language operand: 10"). (That
/// layer also predates cooperative matrices; Strata leaves them off under it, see
/// [`ContextBuilder::cooperative_matrix`](crate::ContextBuilder::cooperative_matrix).)
pub fn is_validation_message(target: &str, message: &str) -> bool {
    if !target.starts_with(LAYER_LOG_TARGET) || message.starts_with('\t') {
        return false;
    }
    let kind = message.split(" [").next().unwrap_or("");
    let about_usage = kind.contains("VALIDATION") || kind.contains("PERFORMANCE");
    about_usage && !is_known_false_positive(message)
}

fn is_known_false_positive(message: &str) -> bool {
    message.contains("Invalid source language operand: 10")
}

/// The validation messages in a printed log: records printed as `[LEVEL target] message`
/// (`env_logger`'s format, with or without a timestamp, and [`capture`]'s), each followed by its
/// indented continuation lines, judged by [`is_validation_message`]; and lines the layer prints
/// itself when no debug messenger is installed (`Validation Error: ...`), outside any record.
/// Each message is returned as printed.
pub fn messages_in(log: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut record: Option<PrintedRecord> = None;
    for line in log.lines() {
        if let Some((target, message)) = parse_record(line) {
            finish(record.take(), &mut found);
            record = Some(PrintedRecord {
                target: target.to_string(),
                message: message.to_string(),
                text: line.to_string(),
            });
            continue;
        }
        if let (true, Some(open)) = (line.starts_with([' ', '\t']), record.as_mut()) {
            open.message.push('\n');
            open.message.push_str(line.trim_start_matches(' '));
            open.text.push('\n');
            open.text.push_str(line);
            continue;
        }
        finish(record.take(), &mut found);
        let layer_itself =
            line.contains("Validation Error:") || line.contains("Validation Warning:");
        if layer_itself && !is_known_false_positive(line) {
            found.push(line.to_string());
        }
    }
    finish(record, &mut found);
    found
}

/// One record of a printed log, its continuation lines joined to its message.
struct PrintedRecord {
    target: String,
    message: String,
    /// The lines as printed.
    text: String,
}

fn finish(record: Option<PrintedRecord>, found: &mut Vec<String>) {
    if let Some(record) = record {
        if is_validation_message(&record.target, &record.message) {
            found.push(record.text);
        }
    }
}

/// `[LEVEL target] message` or `[TIMESTAMP LEVEL target] message`: the target and the message.
fn parse_record(line: &str) -> Option<(&str, &str)> {
    let inside = line.strip_prefix('[')?;
    let (head, message) = inside.split_once("] ")?;
    let mut words = head.split_whitespace().rev();
    let target = words.next()?;
    let level = words.next()?;
    ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
        .contains(&level)
        .then_some((target, message))
}

/// Messages [`capture`] has seen and not yet handed out.
static MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Every message [`capture`] has seen.
static COUNT: AtomicU64 = AtomicU64::new(0);

/// The logger [`capture`] installs.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let printed = format!("[{} {}] {message}", record.level(), record.target());
        eprintln!("{printed}");
        if is_validation_message(record.target(), &message) {
            COUNT.fetch_add(1, Ordering::Relaxed);
            MESSAGES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(printed);
        }
    }

    fn flush(&self) {}
}

/// Installs the process's logger: it prints warnings and errors to stderr as
/// `[LEVEL target] message` and keeps every validation message it sees for [`take_messages`]
/// and [`message_count`]. `false` when another logger was installed first (then nothing is
/// captured); calling it again is harmless.
pub fn capture() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let installed = log::set_logger(&Capture).is_ok();
        if installed {
            log::set_max_level(log::LevelFilter::Warn);
        }
        installed
    })
}

/// The validation messages [`capture`] has seen since the last call, as printed.
pub fn take_messages() -> Vec<String> {
    std::mem::take(&mut *MESSAGES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// How many validation messages [`capture`] has seen in this process.
pub fn message_count() -> u64 {
    COUNT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_are_told_from_driver_chatter() {
        let layer = LAYER_LOG_TARGET;
        assert!(is_validation_message(
            layer,
            "VALIDATION [VUID-vkCmdDispatch-None-02697 (0x1)]\n\tValidation Error: ..."
        ));
        assert!(!is_validation_message(
            "my_app",
            "VALIDATION [VUID-vkCmdDispatch-None-02697 (0x1)]"
        ));
        assert!(!is_validation_message(
            layer,
            "GENERAL [../src/gallium/frontends/lavapipe/lvp_device.c:1799 (0x0)]\n\tVK_ERROR_OUT_OF_DEVICE_MEMORY"
        ));
        assert!(!is_validation_message(
            layer,
            "\tobjects: (type: DEVICE, hndl: 0x1, name: ?)"
        ));
        assert!(!is_validation_message(
            layer,
            "VALIDATION [UNASSIGNED-CoreValidation-Shader-InconsistentSpirv (0x6bbb14)]\n\tValidation Error: [ UNASSIGNED-CoreValidation-Shader-InconsistentSpirv ] SPIR-V module not valid: Invalid source language operand: 10"
        ));
    }

    /// A log as an example prints it under Debian 12's layer (`env_logger`, no timestamp): the
    /// known false positive with its context lines, driver chatter, the program's own output,
    /// then a real message.
    #[test]
    fn printed_logs_are_read_with_the_same_detector() {
        let log = "\
[WARN  wgpu_hal::vulkan::instance] VALIDATION [UNASSIGNED-CoreValidation-Shader-InconsistentSpirv (0x6bbb14)]
    \tValidation Error: [ UNASSIGNED-CoreValidation-Shader-InconsistentSpirv ] Object 0: handle = 0x55e6f505cce0, type = VK_OBJECT_TYPE_DEVICE; | MessageID = 0x6bbb14 | SPIR-V module not valid: Invalid source language operand: 10
[ERROR wgpu_hal::vulkan::instance] \tobjects: (type: DEVICE, hndl: 0x55e6f505cce0, name: ?)
[WARN  wgpu_hal::vulkan::instance] GENERAL [lvp_device.c:1799 (0x0)]
16 tokens of 50 ops in 0.752 s
[ERROR wgpu_hal::vulkan::instance] VALIDATION [VUID-VkBufferCreateInfo-pNext-pNext (0x1)]
\tValidation Error: [ VUID-VkBufferCreateInfo-pNext-pNext ] ...
[2026-01-01T00:00:00Z ERROR wgpu_hal::vulkan::instance] PERFORMANCE [BestPractices-x (0x2)]
";
        let found = messages_in(log);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("VUID-VkBufferCreateInfo-pNext-pNext"));
        assert!(found[1].contains("] PERFORMANCE [BestPractices-x"));
        // The layer's own print, when no debug messenger is installed.
        let bare = "Validation Error: [ VUID-vkCmdDispatch-x ] Object 0: ...\n";
        assert_eq!(messages_in(bare).len(), 1);
        assert!(messages_in("all good\n[INFO my_app] started\n").is_empty());
    }
}
