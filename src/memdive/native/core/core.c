/* core.c - the ABI stamp of the C core; the other libraries each carry their own. */
#include "memdive_native.h"

int memdive_native_abi(void) { return MEMDIVE_NATIVE_ABI; }
