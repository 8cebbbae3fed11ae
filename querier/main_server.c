/* noa-server entry point (being built). */
#include <stdio.h>

int main(void)
{
    puts("noa-server");
    return 0;
}
