//! The canary: the validation layer must be heard. Every GPU test passes only if the layer said
//! nothing, which proves nothing unless the capture would have heard it. Here a deliberate,
//! harmless misuse of Vulkan makes the layer report a real message, and the test fails unless
//! the capture caught it, and unless the scan of a printed log (the CLI tests and
//! `scripts/test.sh` read logs with it) finds it too.

use crate::harness::{assert_no_validation_messages, gpu_alone};
use strata::validation::{message_count, messages_in, take_messages};
use strata_vk::CANARY_VUID;

#[test]
fn the_capture_hears_the_validation_layer() {
    // Alone: the capture is process-wide, and a test beside this one would take the message.
    let Some(ctx) = gpu_alone() else { return };
    assert_no_validation_messages();
    let vk = ctx
        .vulkan("the validation canary")
        .expect("the GPU tests run on a Vulkan adapter");
    let counted = message_count();
    vk.provoke_validation_message()
        .expect("the canary's buffer is created and destroyed");

    let heard = take_messages();
    assert!(
        heard.iter().any(|m| m.contains(CANARY_VUID)),
        "the validation layer's {CANARY_VUID} was not captured (heard: {heard:#?}): a real \
         validation message would pass unseen"
    );
    assert_eq!(message_count() - counted, heard.len() as u64, "{heard:#?}");
    let printed = heard.join("\n");
    assert!(
        messages_in(&printed)
            .iter()
            .any(|m| m.contains(CANARY_VUID)),
        "the scan of a printed log misses {CANARY_VUID}:\n{printed}"
    );
}
