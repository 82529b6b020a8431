/* memdive_native.h - shared between the C core and its Python readers.
 * Bump MEMDIVE_NATIVE_ABI when an exported function or struct layout changes;
 * memdive.native checks it at load time.
 */
#ifndef MEMDIVE_NATIVE_H
#define MEMDIVE_NATIVE_H

#define MEMDIVE_NATIVE_ABI 1

#endif
