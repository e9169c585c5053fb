import { createApp } from 'vue'
import App from './App.vue'
import { onUnauthorized } from './api/http'
import { forget } from './composables/session'
import { stopLive } from './composables/live'
import { isMissingChunk, reloadOnce, type Reloader } from './lib/newbuild'
import { router } from './router'
import './styles.css'

// Any 401: the token is gone or expired; sign in again and come back to the same place.
onUnauthorized(() => {
  forget()
  stopLive()
  const here = router.currentRoute.value
  if (here.name !== 'login') void router.replace({ name: 'login', query: { next: here.fullPath } })
})

// A tab opened before the console was rebuilt asks for chunks the server no longer has: load
// the page it was going to afresh (once), which fetches the new build.
const browser: Reloader = { storage: sessionStorage, now: Date.now, go: (path) => location.assign(path) }
router.onError((err, to) => {
  if (isMissingChunk(err)) reloadOnce(to.fullPath, browser)
})
// Outside a navigation (a lazily loaded component); a navigation's failure reaches onError
// first, and this then does nothing.
window.addEventListener('vite:preloadError', () => {
  setTimeout(() => reloadOnce(location.pathname + location.search + location.hash, browser), 0)
})

createApp(App).use(router).mount('#app')
