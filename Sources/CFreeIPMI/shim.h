#ifndef SWIFT_IRONIC_CFREEIPMI_SHIM_H
#define SWIFT_IRONIC_CFREEIPMI_SHIM_H

#include <freeipmi/freeipmi.h>
#include <ipmiconsole.h>

#endif
