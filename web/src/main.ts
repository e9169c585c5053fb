import { createApp } from 'vue'
import App from './App.vue'
import { onUnauthorized } from './api/http'
import { forget } from './composables/session'
import { stopLive } from './composables/live'
import { router } from './router'
import './styles.css'

// Any 401: the token is gone or expired; sign in again and come back to the same place.
onUnauthorized(() => {
  forget()
  stopLive()
  const here = router.currentRoute.value
  if (here.name !== 'login') void router.replace({ name: 'login', query: { next: here.fullPath } })
})

createApp(App).use(router).mount('#app')
