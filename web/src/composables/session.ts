/** Who is signed in: the token in localStorage and the name and role behind it. */
import { computed, ref } from 'vue'
import { api } from '@/api/client'
import { getToken, setToken } from '@/api/http'
import type { Me } from '@/api/types'
import { atLeast, type Role } from '@/lib/permissions'

const me = ref<Me | null>(null)
const token = ref<string | null>(getToken())

/** The signed-in user (null before sign-in or while loading). */
export const currentUser = computed(() => me.value)
/** Whether a token is stored. */
export const hasToken = computed(() => token.value !== null)

/** Whether the signed-in user's role is at least `min`. */
export function can(min: Role): boolean {
  return atLeast(me.value?.role, min)
}

/** Signs in and loads who that is. */
export async function signIn(username: string, password: string): Promise<void> {
  const s = await api.login(username, password)
  setToken(s.token)
  token.value = s.token
  me.value = await api.me()
}

/** Loads who the stored token belongs to (once per page load). */
export async function loadMe(): Promise<Me | null> {
  if (!token.value) return null
  if (!me.value) me.value = await api.me()
  return me.value
}

/** Forgets the token locally (the server already refused it, or the user signed out). */
export function forget(): void {
  setToken(null)
  token.value = null
  me.value = null
}

/** Ends the session on the server, then forgets it. */
export async function signOut(): Promise<void> {
  try {
    await api.logout()
  } finally {
    forget()
  }
}
