// libcrypt (libxcrypt on Debian): crypt_r for bcrypt password hashes in htpasswd files.
#include <crypt.h>
